using RecSys.VectorSearch;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>What one shard holds, for the status and the gauges.</summary>
internal readonly record struct ShardCounts(long Version, int Vectors, int Deleted, long MemoryBytes);

/// <summary>
/// The index's shards, wherever they live (in-process HNSW or Qdrant collections), behind the one <see cref="IVectorShard"/>
/// contract: items are routed by <see cref="ShardRouter"/>, searches go through <see cref="Reader"/> (scatter-gather with a
/// deadline per shard). Writes and rebuilds are called one at a time (the manager's gate); searches run beside them.
/// </summary>
internal interface IIndexShardSet
{
    /// <summary>"embedded" or "qdrant" (status and logs).</summary>
    string Backend { get; }

    int Count { get; }

    /// <summary>Fans searches out to every shard, each under the per-shard deadline (the current generation's).</summary>
    ScatterGatherCoordinator Reader { get; }

    /// <summary>What a request searches: read once, it pins the shards and the embedding version for the whole request.</summary>
    IndexGeneration Current { get; }

    /// <summary>Labels the current shards with the embedding version their vectors come from (at load, from the store's pointer).</summary>
    void SetEmbeddingVersion(string embeddingVersion);

    int ShardOf(long key);

    /// <summary>Writes rows (<paramref name="keys"/>.Length x dimension floats) with the items they belong to.</summary>
    Task UpsertAsync(long[] keys, float[] vectors, IReadOnlyList<IndexedItem> items, CancellationToken cancellationToken);

    Task DeleteAsync(long[] keys, CancellationToken cancellationToken);

    /// <summary>Copies the stored vector of <paramref name="key"/> (normalized under cosine); false when absent.</summary>
    bool TryGetVector(long key, Span<float> destination);

    /// <summary>
    /// Rebuilds every shard off the query path and switches searches to the rebuilt shards atomically;
    /// <paramref name="shardSwapped"/> runs once per shard swapped.
    /// </summary>
    Task RebuildAsync(IndexedItems items, Action shardSwapped, CancellationToken cancellationToken);

    ShardCounts CountsOf(int shard);
}
