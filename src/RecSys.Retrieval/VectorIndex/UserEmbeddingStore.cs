using System.Runtime.InteropServices;
using RecSys.Core.Storage;
using StackExchange.Redis;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>
/// Base user embeddings (the daily "embedding_store" of the spec) in the online store: key <c>ue:{userId}</c>, a string of
/// little-endian float32 values. Being in the store, they are shared by every Retrieval replica and persisted with it.
/// </summary>
public sealed class UserEmbeddingStore(IConnectionMultiplexer redis)
{
    /// <summary>Key of a user's base embedding.</summary>
    public static string Key(string userId) => OnlineKeys.UserEmbedding(userId);

    public async Task SetAsync(IReadOnlyList<(string UserId, float[] Vector)> users, CancellationToken cancellationToken)
    {
        var batch = redis.GetDatabase().CreateBatch();
        var writes = new Task[users.Count];
        for (var i = 0; i < users.Count; i++)
        {
            var bytes = MemoryMarshal.AsBytes(users[i].Vector.AsSpan()).ToArray();
            writes[i] = batch.StringSetAsync(Key(users[i].UserId), bytes);
        }

        batch.Execute();
        await Task.WhenAll(writes).WaitAsync(cancellationToken);
    }

    /// <summary>The user's base embedding, or null when there is none or it has another dimension.</summary>
    public async Task<float[]?> GetAsync(string userId, int dimension, CancellationToken cancellationToken)
    {
        var value = await redis.GetDatabase().StringGetAsync(Key(userId)).WaitAsync(cancellationToken);
        if (value.IsNull)
        {
            return null;
        }

        var bytes = (byte[])value!;
        if (bytes.Length != dimension * sizeof(float))
        {
            return null;
        }

        return MemoryMarshal.Cast<byte, float>(bytes).ToArray();
    }
}
