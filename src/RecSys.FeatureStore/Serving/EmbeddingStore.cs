using RecSys.FeatureStore.Keys;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Serving;

/// <summary>
/// Embeddings in the online store (<see cref="EmbeddingBytes"/> form), shared by every replica and persisted with the store:
/// the users' base embeddings (the daily "embedding_store" of the spec, <c>ue:{userId}</c>), the items' embeddings
/// (<c>ie:{itemId}</c>, mirrored from the index writes for the feature store) and, read only, the users' embeddings moved
/// since the base by the stream processor (<c>uema:{userId}</c>, the spec's incremental EMA update).
/// </summary>
public sealed class EmbeddingStore(IConnectionMultiplexer redis)
{
    private static readonly RedisValue[] EmaVectorField = [EmaEmbeddingFields.Vector];

    /// <summary>Key of a user's base embedding.</summary>
    public static string Key(string userId) => OnlineKeys.UserEmbedding(userId);

    /// <summary>Stores base embeddings; each restarts the user's moved embedding from it.</summary>
    public async Task SetAsync(IReadOnlyList<(string UserId, float[] Vector)> users, CancellationToken cancellationToken)
    {
        var batch = redis.GetDatabase().CreateBatch();
        var writes = new Task[users.Count * 2];
        for (var i = 0; i < users.Count; i++)
        {
            writes[2 * i] = batch.StringSetAsync(Key(users[i].UserId), EmbeddingBytes.ToBytes(users[i].Vector));
            writes[(2 * i) + 1] = batch.KeyDeleteAsync(OnlineKeys.UserEmbeddingEma(users[i].UserId));
        }

        await OnlineStoreUnavailableException.Execute(batch, () => Task.WhenAll(writes).WaitAsync(cancellationToken), "embedding writes");
    }

    /// <summary>Stores item embeddings beside the index.</summary>
    public async Task SetItemsAsync(IReadOnlyList<(string ItemId, float[] Vector)> items, CancellationToken cancellationToken)
    {
        var batch = redis.GetDatabase().CreateBatch();
        var writes = new Task[items.Count];
        for (var i = 0; i < items.Count; i++)
        {
            writes[i] = batch.StringSetAsync(OnlineKeys.ItemEmbedding(items[i].ItemId), EmbeddingBytes.ToBytes(items[i].Vector));
        }

        await OnlineStoreUnavailableException.Execute(batch, () => Task.WhenAll(writes).WaitAsync(cancellationToken), "embedding writes");
    }

    public async Task DeleteItemsAsync(IReadOnlyList<string> itemIds, CancellationToken cancellationToken)
    {
        var keys = itemIds.Select(id => (RedisKey)OnlineKeys.ItemEmbedding(id)).ToArray();
        await OnlineStoreUnavailableException.Guard(() => redis.GetDatabase().KeyDeleteAsync(keys).WaitAsync(cancellationToken), "embedding deletes");
    }

    /// <summary>
    /// The user's embedding of <paramref name="dimension"/>: the moved one when there is one, else the base; null when there
    /// is neither (or they have another dimension).
    /// </summary>
    public async Task<float[]?> GetAsync(string userId, int dimension, CancellationToken cancellationToken)
    {
        var (moved, stored) = await OnlineStoreUnavailableException.Guard(
            async () =>
            {
                var db = redis.GetDatabase();
                var movedRead = db.HashGetAsync(OnlineKeys.UserEmbeddingEma(userId), EmaVectorField);
                var storedRead = db.StringGetAsync(Key(userId));
                await Task.WhenAll(movedRead, storedRead).WaitAsync(cancellationToken).ConfigureAwait(false);
                return (movedRead.Result[0], storedRead.Result);
            },
            "user embedding");
        if (!moved.IsNull && EmbeddingBytes.FromBytes((byte[])moved!, dimension) is { } vector)
        {
            return vector;
        }

        return stored.IsNull ? null : EmbeddingBytes.FromBytes((byte[])stored!, dimension);
    }
}
