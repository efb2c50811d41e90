using RecSys.FeatureStore.Keys;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Serving;

/// <summary>
/// Typed reads of what candidate generation needs from the online store: trending, a user's signals, the popular items of
/// categories, the newest items of creators, and item-to-item co-occurrence. Every read is pipelined (one round trip per
/// call, whatever the number of lists) and fails with <see cref="OnlineStoreUnavailableException"/> only. With a
/// <see cref="SharedReadCache"/>, the lists that do not depend on the user (trending, category, creator, co-engagement)
/// are served from memory for a short time and only the missing ones are read.
/// </summary>
public sealed class CandidateSignalReader(IConnectionMultiplexer redis, SharedReadCache? cache = null)
{
    /// <summary>
    /// The <paramref name="count"/> most popular items now (decayed popularity), best first, each scored by its share of the
    /// best one, in [0, 1]. Empty when nothing has been engaged with yet.
    /// </summary>
    public async Task<IReadOnlyList<ScoredMember>> ReadTrendingAsync(int count, CancellationToken cancellationToken)
    {
        if (count <= 0)
        {
            return [];
        }

        if (cache is not null && cache.TryGetList(OnlineKeys.Trending, count, out var cached))
        {
            return cached;
        }

        var entries = await OnlineStoreUnavailableException.Guard(
            () => redis.GetDatabase().SortedSetRangeByRankWithScoresAsync(OnlineKeys.Trending, 0, count - 1, Order.Descending).WaitAsync(cancellationToken),
            "trending");
        if (entries.Length == 0)
        {
            return [];
        }

        // Descending order: the first entry holds the max. Decayed popularity is never negative; guard anyway.
        var max = entries[0].Score;
        var result = new ScoredMember[entries.Length];
        for (var i = 0; i < entries.Length; i++)
        {
            var score = max > 0 && double.IsFinite(max) ? Math.Clamp(entries[i].Score / max, 0, 1) : 0;
            result[i] = new ScoredMember(entries[i].Element!, score);
        }

        // Shares of the first entry: a prefix of the list is the same list read shallower, so depths share one entry.
        cache?.SetList(OnlineKeys.Trending, count, result);
        return result;
    }

    /// <summary>The user's recent items, follows, creator and category affinities (and seen items if asked), in one round trip.</summary>
    public async Task<UserSignals> ReadUserSignalsAsync(string userId, UserSignalsQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var batch = redis.GetDatabase().CreateBatch();
        var recent = Top(batch, OnlineKeys.UserRecent(userId), query.RecentItems);
        var follows = batch.SetMembersAsync(OnlineKeys.UserFollows(userId));
        var creators = Top(batch, OnlineKeys.UserCreatorAffinity(userId), query.TopCreators);
        var categories = Top(batch, OnlineKeys.UserCategoryAffinity(userId), query.TopCategories);
        var seen = query.Seen ? batch.SetMembersAsync(OnlineKeys.UserSeen(userId)) : Task.FromResult(Array.Empty<RedisValue>());
        await OnlineStoreUnavailableException.Execute(
            batch, () => Task.WhenAll(recent, follows, creators, categories, seen).WaitAsync(cancellationToken), "user signals");

        var followed = follows.Result.Select(static f => (string)f!).Order(StringComparer.Ordinal).ToArray();
        return new UserSignals(ToMembers(recent.Result), followed, ToMembers(creators.Result), ToMembers(categories.Result))
        {
            Seen = seen.Result.Length == 0 ? [] : seen.Result.Select(static s => (string)s!).ToArray(),
        };
    }

    /// <summary>For each category, its most popular items (decayed popularity, best first) to the given depth.</summary>
    public Task<ScoredMember[][]> ReadCategoryPopularAsync(IReadOnlyList<(string Category, int Depth)> lists, CancellationToken cancellationToken) =>
        ReadListsAsync(lists, OnlineKeys.CategoryPopularity, "category popularity", cancellationToken);

    /// <summary>For each creator, the newest items (scored by created time, unix ms) to the given depth.</summary>
    public Task<ScoredMember[][]> ReadCreatorItemsAsync(IReadOnlyList<(string Creator, int Depth)> lists, CancellationToken cancellationToken) =>
        ReadListsAsync(lists, OnlineKeys.CreatorItems, "creator items", cancellationToken);

    /// <summary>For each item, the items most often engaged with alongside it (co-engagement weight, largest first).</summary>
    public Task<ScoredMember[][]> ReadCoEngagedAsync(IReadOnlyList<(string Item, int Depth)> lists, CancellationToken cancellationToken) =>
        ReadListsAsync(lists, OnlineKeys.CoOccurrence, "co-occurrence", cancellationToken);

    private async Task<ScoredMember[][]> ReadListsAsync(
        IReadOnlyList<(string Id, int Depth)> lists,
        Func<string, string> key,
        string what,
        CancellationToken cancellationToken)
    {
        if (lists.Count == 0)
        {
            return [];
        }

        var result = new ScoredMember[lists.Count][];
        var keys = new string[lists.Count];
        var missing = 0;
        for (var i = 0; i < lists.Count; i++)
        {
            keys[i] = key(lists[i].Id);
            if (cache is not null && cache.TryGetList(keys[i], lists[i].Depth, out var cached))
            {
                result[i] = cached;
            }
            else
            {
                missing++;
            }
        }

        if (missing == 0)
        {
            return result;
        }

        var batch = redis.GetDatabase().CreateBatch();
        var reads = new Task<SortedSetEntry[]>?[lists.Count];
        var depths = new int[lists.Count];
        for (var i = 0; i < reads.Length; i++)
        {
            if (result[i] is null)
            {
                depths[i] = CacheDepth(lists[i].Depth);
                reads[i] = Top(batch, keys[i], depths[i]);
            }
        }

        await OnlineStoreUnavailableException.Execute(batch, () => Task.WhenAll(reads.OfType<Task<SortedSetEntry[]>>()).WaitAsync(cancellationToken), what);
        for (var i = 0; i < reads.Length; i++)
        {
            if (reads[i] is { } read)
            {
                var members = ToMembers(read.Result);
                cache?.SetList(keys[i], depths[i], members);
                result[i] = members.Length > lists[i].Depth ? members[..lists[i].Depth] : members;
            }
        }

        return result;
    }

    /// <summary>
    /// How deep a list missing from the cache is read: the depth asked, or with a cache, rounded up to a power of two (at
    /// least 16, at most 256 more). Callers ask depths that vary with each user's shares (a category read to 37 for one user,
    /// to 41 for the next), and a cached list answers only depths up to its own: rounding up lets the next few requests find
    /// it, for a few more entries per read. The caller still gets exactly the depth it asked; nothing is kept longer.
    /// </summary>
    internal int CacheDepth(int depth)
    {
        if (cache is null || cache.Options.ListDuration <= TimeSpan.Zero || !cache.Options.RoundUpDepths || depth <= 0)
        {
            return depth;
        }

        var rounded = (int)Math.Min(System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, depth)), int.MaxValue);
        return Math.Min(rounded, depth + 256);
    }

    private static Task<SortedSetEntry[]> Top(IBatch batch, string key, int depth) =>
        depth > 0
            ? batch.SortedSetRangeByRankWithScoresAsync(key, 0, depth - 1, Order.Descending)
            : Task.FromResult(Array.Empty<SortedSetEntry>());

    private static ScoredMember[] ToMembers(SortedSetEntry[] entries)
    {
        var members = new ScoredMember[entries.Length];
        for (var i = 0; i < entries.Length; i++)
        {
            members[i] = new ScoredMember(entries[i].Element!, entries[i].Score);
        }

        return members;
    }
}
