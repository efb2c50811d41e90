using RecSys.FeatureStore.Keys;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Serving;

/// <summary>
/// Whether items may be recommended to a user: an item is eligible unless the user has seen it (<c>u:{user}:seen</c>) or it is
/// unavailable (<c>items:unavailable</c>). Both checks for every item go in one pipelined round trip (two SMISMEMBER commands).
/// Retrieval filters its fused candidates with it and Ranking its trending fallback: one rule for both.
/// </summary>
/// <remarks>
/// With ~7,000 ids per Retrieval request, the two commands carried 14,000 arguments. Two cheaper paths: a caller that has
/// already read the user's whole seen set passes it (no <c>SMISMEMBER</c> on it), and with a <see cref="SharedReadCache"/>
/// the unavailable set is checked in memory (read whole at most once per <see cref="SharedReadCacheOptions.UnavailableDuration"/>).
/// </remarks>
public sealed class EligibilityFilter(IConnectionMultiplexer redis, SharedReadCache? cache = null)
{
    /// <summary>For each of <paramref name="itemIds"/>, whether it may be recommended to <paramref name="userId"/>.</summary>
    public Task<bool[]> CheckAsync(string userId, IReadOnlyList<string> itemIds, CancellationToken cancellationToken) =>
        CheckAsync(userId, itemIds, seen: null, cancellationToken);

    /// <summary>
    /// As <see cref="CheckAsync(string, IReadOnlyList{string}, CancellationToken)"/>; <paramref name="seen"/>, when given, is
    /// the user's whole seen set as the caller read it in this request, and is used instead of the store's.
    /// </summary>
    public async Task<bool[]> CheckAsync(string userId, IReadOnlyList<string> itemIds, IReadOnlySet<string>? seen, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(itemIds);
        if (itemIds.Count == 0)
        {
            return [];
        }

        var unavailableSet = cache is null ? null : await cache.GetUnavailableAsync(redis, cancellationToken);
        if (seen is not null && unavailableSet is not null)
        {
            var local = new bool[itemIds.Count];
            for (var i = 0; i < local.Length; i++)
            {
                local[i] = !seen.Contains(itemIds[i]) && !unavailableSet.Contains(itemIds[i]);
            }

            return local;
        }

        return await CheckInStoreAsync(userId, itemIds, seen, unavailableSet, cancellationToken);
    }

    /// <summary>
    /// The unavailable set as the <see cref="SharedReadCache"/> holds it (read whole at most once per
    /// <see cref="SharedReadCacheOptions.UnavailableDuration"/>), or null when there is no cache: with the user's seen set, a
    /// caller can then decide eligibility in memory, <c>!seen.Contains(id) &amp;&amp; !unavailable.Contains(id)</c>, exactly as
    /// <see cref="CheckAsync(string, IReadOnlyList{string}, IReadOnlySet{string}?, CancellationToken)"/> would, without building id lists.
    /// </summary>
    public async Task<IReadOnlySet<string>?> GetCachedUnavailableAsync(CancellationToken cancellationToken) =>
        cache is null ? null : await cache.GetUnavailableAsync(redis, cancellationToken);

    private async Task<bool[]> CheckInStoreAsync(
        string userId, IReadOnlyList<string> itemIds, IReadOnlySet<string>? knownSeen, IReadOnlySet<string>? knownUnavailable, CancellationToken cancellationToken)
    {
        var values = new RedisValue[itemIds.Count];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = itemIds[i];
        }

        var batch = redis.GetDatabase().CreateBatch();
        var seen = knownSeen is null ? batch.SetContainsAsync(OnlineKeys.UserSeen(userId), values) : null;
        var unavailable = knownUnavailable is null ? batch.SetContainsAsync(OnlineKeys.UnavailableItems, values) : null;
        await OnlineStoreUnavailableException.Execute(
            batch, () => Task.WhenAll(new[] { seen, unavailable }.OfType<Task<bool[]>>()).WaitAsync(cancellationToken), "eligibility");

        var seenFlags = seen?.Result;
        var unavailableFlags = unavailable?.Result;
        var eligible = new bool[values.Length];
        for (var i = 0; i < eligible.Length; i++)
        {
            var id = itemIds[i];
            var isSeen = seenFlags?[i] ?? knownSeen!.Contains(id);
            var isUnavailable = unavailableFlags?[i] ?? knownUnavailable!.Contains(id);
            eligible[i] = !isSeen && !isUnavailable;
        }

        return eligible;
    }
}
