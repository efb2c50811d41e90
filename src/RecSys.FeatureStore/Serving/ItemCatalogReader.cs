using RecSys.FeatureStore.Keys;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Serving;

/// <summary>Lists the catalog: every item id of <c>items:all</c> (for in-process tables that mirror item values).</summary>
public sealed class ItemCatalogReader(IConnectionMultiplexer redis)
{
    /// <summary>Every known item id, in no particular order.</summary>
    public async Task<string[]> ReadAllAsync(CancellationToken cancellationToken)
    {
        var members = await OnlineStoreUnavailableException.Guard(
            () => redis.GetDatabase().SetMembersAsync(OnlineKeys.AllItems).WaitAsync(cancellationToken), "item catalog").ConfigureAwait(false);
        var ids = new string[members.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = members[i].ToString();
        }

        return ids;
    }
}
