using RecSys.FeatureStore.Keys;
using StackExchange.Redis;

namespace RecSys.Retrieval.Services;

/// <summary>
/// apply_eligibility_filters against the online store: an item is eligible unless the user has seen it
/// (<c>u:{user}:seen</c>) or it is unavailable (<c>items:unavailable</c>). Both checks for every candidate go in one
/// pipelined round trip (two SMISMEMBER commands).
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
        batch.Execute();
        await Task.WhenAll(seen, unavailable).WaitAsync(cancellationToken);

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

/// <summary>The online store could not answer a check the response cannot do without (the eligibility filter).</summary>
public sealed class OnlineStoreUnavailableException(string message, Exception innerException) : Exception(message, innerException);
