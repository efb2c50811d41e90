using RecSys.FeatureStore.Keys;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Serving;

/// <summary>What filters know of an item (from the item hash <c>it:{id}</c> of the online store).</summary>
/// <param name="Creator">Creator id, or null when unknown.</param>
/// <param name="Categories">Category names (possibly empty).</param>
/// <param name="Available">False when <c>avail</c> is 0 or the item is in <c>items:unavailable</c>.</param>
/// <param name="CreatedAt">The item's creation time (<c>created</c>, unix ms), null when the hash has none (the freshness rule skips it).</param>
public sealed record ItemMetadata(string? Creator, IReadOnlyList<string> Categories, bool Available, DateTimeOffset? CreatedAt = null)
{
    /// <summary>Used until the store has been read: no creator, no category, available.</summary>
    public static readonly ItemMetadata Unknown = new(null, [], true);
}

/// <summary>Reads filter metadata of items from the online store: <c>it:{id}</c> (creator, cats, avail, created) and <c>items:unavailable</c>.</summary>
public sealed class ItemMetadataReader(IConnectionMultiplexer redis)
{
    private const int ChunkSize = 1000;
    private static readonly RedisValue[] Fields = [ItemFields.Creator, ItemFields.Categories, ItemFields.Available, ItemFields.CreatedMs];

    /// <summary>Metadata per id, in order; null for an item the store does not know.</summary>
    public async Task<ItemMetadata?[]> ReadAsync(IReadOnlyList<string> itemIds, CancellationToken cancellationToken)
    {
        var result = new ItemMetadata?[itemIds.Count];
        var db = redis.GetDatabase();
        for (var start = 0; start < itemIds.Count; start += ChunkSize)
        {
            var n = Math.Min(ChunkSize, itemIds.Count - start);
            var batch = db.CreateBatch();
            var hashes = new Task<RedisValue[]>[n];
            var members = new RedisValue[n];
            for (var i = 0; i < n; i++)
            {
                members[i] = itemIds[start + i];
                hashes[i] = batch.HashGetAsync(OnlineKeys.Item(itemIds[start + i]), Fields);
            }

            var unavailable = batch.SetContainsAsync(OnlineKeys.UnavailableItems, members);
            await OnlineStoreUnavailableException.Execute(
                batch, () => Task.WhenAll(Task.WhenAll(hashes), unavailable).WaitAsync(cancellationToken), "item metadata");
            var flags = unavailable.Result;
            for (var i = 0; i < n; i++)
            {
                var values = hashes[i].Result;
                if (values.All(v => v.IsNull))
                {
                    result[start + i] = flags[i] ? new ItemMetadata(null, [], Available: false) : null;
                    continue;
                }

                string? creator = values[0].IsNullOrEmpty ? null : values[0].ToString();
                var cats = values[1].IsNullOrEmpty
                    ? []
                    : values[1].ToString().Split(ItemFields.ListSeparator, StringSplitOptions.RemoveEmptyEntries);
                var available = !flags[i] && (values[2].IsNull || values[2].ToString() != "0");
                result[start + i] = new ItemMetadata(creator, cats, available, CreatedAt(values[3]));
            }
        }

        return result;
    }

    /// <summary>
    /// Per id, in order, whether it is in <c>items:unavailable</c>: one command per 1,000 ids. The item upsert keeps that set
    /// in step with the hash's <c>avail</c>, so this is the availability of <see cref="ReadAsync"/> without reading the hashes.
    /// </summary>
    public async Task<bool[]> ReadUnavailableAsync(IReadOnlyList<string> itemIds, CancellationToken cancellationToken)
    {
        var result = new bool[itemIds.Count];
        var db = redis.GetDatabase();
        for (var start = 0; start < itemIds.Count; start += ChunkSize)
        {
            var n = Math.Min(ChunkSize, itemIds.Count - start);
            var members = new RedisValue[n];
            for (var i = 0; i < n; i++)
            {
                members[i] = itemIds[start + i];
            }

            var flags = await OnlineStoreUnavailableException.Guard(
                () => db.SetContainsAsync(OnlineKeys.UnavailableItems, members).WaitAsync(cancellationToken), "item availability").ConfigureAwait(false);
            flags.CopyTo(result, start);
        }

        return result;
    }

    /// <summary>The <c>created</c> field (unix ms, as the stream processor writes it); null when absent or not a plausible time.</summary>
    private static DateTimeOffset? CreatedAt(RedisValue value) =>
        value.TryParse(out long ms) && ms > 0 && ms <= DateTimeOffset.MaxValue.ToUnixTimeMilliseconds() ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
}
