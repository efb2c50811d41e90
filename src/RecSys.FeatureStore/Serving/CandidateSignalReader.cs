using RecSys.FeatureStore.Keys;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Serving;

/// <summary>
/// Typed reads of what candidate generation needs from the online store: trending, a user's signals, the popular items of
/// categories, the newest items of creators, and item-to-item co-occurrence. Every read is pipelined (one round trip per
/// call, whatever the number of lists) and fails with <see cref="OnlineStoreUnavailableException"/> only.
/// </summary>
public sealed class CandidateSignalReader(IConnectionMultiplexer redis)
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

        var batch = redis.GetDatabase().CreateBatch();
        var reads = new Task<SortedSetEntry[]>[lists.Count];
        for (var i = 0; i < reads.Length; i++)
        {
            reads[i] = Top(batch, key(lists[i].Id), lists[i].Depth);
        }

        await OnlineStoreUnavailableException.Execute(batch, () => Task.WhenAll(reads).WaitAsync(cancellationToken), what);
        var entries = new SortedSetEntry[reads.Length][];
        for (var i = 0; i < reads.Length; i++)
        {
            entries[i] = reads[i].Result;
        }

        var result = new ScoredMember[entries.Length][];
        for (var i = 0; i < entries.Length; i++)
        {
            result[i] = ToMembers(entries[i]);
        }

        return result;
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
