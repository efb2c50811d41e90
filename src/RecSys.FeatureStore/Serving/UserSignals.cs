namespace RecSys.FeatureStore.Serving;

/// <summary>A member of a ranked list of the online store with its score (popularity, weight, a time in unix ms, ...).</summary>
public readonly record struct ScoredMember(string Member, double Score);

/// <summary>How much of a user's signals a request reads: the lists are kept sorted, so a depth is a prefix.</summary>
/// <param name="RecentItems">Newest recent items (at most <see cref="Keys.OnlineKeys.RecentItemsKept"/> are kept).</param>
/// <param name="TopCategories">Categories with the largest affinity.</param>
/// <param name="TopCreators">Creators with the largest affinity.</param>
/// <param name="Seen">Whether to read the items the user has consumed (a set; read whole).</param>
/// <remarks>Followed creators are always read whole: the store keeps them unordered, and their number is small.</remarks>
public sealed record UserSignalsQuery(int RecentItems, int TopCategories, int TopCreators, bool Seen = false)
{
    /// <summary>Everything the store keeps of recent items, and generous prefixes of the affinities.</summary>
    public static readonly UserSignalsQuery Default = new(Keys.OnlineKeys.RecentItemsKept, 20, 50);

    /// <summary>Nothing but the followed creators.</summary>
    public static readonly UserSignalsQuery None = new(0, 0, 0);

    /// <summary>The deeper of two queries, field by field (one read that serves both).</summary>
    public UserSignalsQuery Union(UserSignalsQuery other) => new(
        Math.Max(RecentItems, other.RecentItems),
        Math.Max(TopCategories, other.TopCategories),
        Math.Max(TopCreators, other.TopCreators),
        Seen || other.Seen);
}

/// <summary>
/// What the online store knows of one user's tastes, read in one pipelined round trip per request and shared by every
/// candidate source and the embedding resolver.
/// </summary>
/// <param name="Recent">Recent positively engaged items, newest first, scored by their last event time (unix ms).</param>
/// <param name="Follows">Creators the user follows, in id order.</param>
/// <param name="CreatorAffinity">Creators by engagement weight, largest first.</param>
/// <param name="CategoryAffinity">Categories by engagement weight, largest first.</param>
public sealed record UserSignals(
    IReadOnlyList<ScoredMember> Recent,
    IReadOnlyList<string> Follows,
    IReadOnlyList<ScoredMember> CreatorAffinity,
    IReadOnlyList<ScoredMember> CategoryAffinity)
{
    public static readonly UserSignals None = new([], [], [], []);

    /// <summary>Items the user has consumed (never recommended again); read only when a query asks for them.</summary>
    public IReadOnlyList<string> Seen { get; init; } = [];

    /// <summary>True when the store knows nothing of the user (a cold start).</summary>
    public bool IsEmpty => Recent.Count == 0 && Follows.Count == 0 && CreatorAffinity.Count == 0 && CategoryAffinity.Count == 0;
}
