using RecSys.FeatureStore.Keys;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Serving;

/// <summary>
/// Whether items may be recommended to a user: an item is eligible unless the user has seen it (<c>u:{user}:seen</c>) or it is
/// unavailable (<c>items:unavailable</c>). Both checks for every item go in one pipelined round trip (two SMISMEMBER commands).
/// Retrieval filters its fused candidates with it and Ranking its trending fallback: one rule for both.
/// </summary>
public sealed class EligibilityFilter(IConnectionMultiplexer redis)
{
    /// <summary>For each of <paramref name="itemIds"/>, whether it may be recommended to <paramref name="userId"/>.</summary>
    public async Task<bool[]> CheckAsync(string userId, IReadOnlyList<string> itemIds, CancellationToken cancellationToken)
    {
        if (itemIds.Count == 0)
        {
            return [];
        }

        var values = new RedisValue[itemIds.Count];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = itemIds[i];
        }

        var batch = redis.GetDatabase().CreateBatch();
        var seen = batch.SetContainsAsync(OnlineKeys.UserSeen(userId), values);
        var unavailable = batch.SetContainsAsync(OnlineKeys.UnavailableItems, values);
        await OnlineStoreUnavailableException.Execute(batch, () => Task.WhenAll(seen, unavailable).WaitAsync(cancellationToken), "eligibility");

        var seenFlags = seen.Result;
        var unavailableFlags = unavailable.Result;
        var eligible = new bool[values.Length];
        for (var i = 0; i < eligible.Length; i++)
        {
            eligible[i] = !seenFlags[i] && !unavailableFlags[i];
        }

        return eligible;
    }
}
