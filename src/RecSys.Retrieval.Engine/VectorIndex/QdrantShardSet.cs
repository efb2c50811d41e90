using System.Collections.Concurrent;
using RecSys.FeatureStore.Serving;
using RecSys.VectorSearch;
using RecSys.VectorSearch.Qdrant;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>
/// Shards as Qdrant collections (<see cref="QdrantShardCollections"/>: one alias per shard over a versioned collection with
/// HNSW and product quantization), searched through the same scatter-gather coordinator and per-shard deadline as the
/// embedded shards. Points carry the item id and the filter metadata known at write time as payload. Filters and exclusions
/// run in-process against the item map (Qdrant returns <see cref="QdrantBackendOptions.FilterOversampling"/> x k per shard
/// first). The item map and a copy of every vector (for <see cref="TryGetVector"/>, which must answer synchronously) are kept
/// in memory and read back from Qdrant at load.
/// </summary>
internal sealed class QdrantShardSet : IIndexShardSet
{
    private readonly QdrantShardCollections _collections;
    private readonly Metric _metric;
    private readonly int _dimension;
    private readonly ConcurrentDictionary<long, float[]>[] _vectors;

    public QdrantShardSet(QdrantShardCollections collections, VectorIndexOptions options, Func<IVectorShard, IVectorShard>? decorateShard = null)
    {
        _collections = collections;
        _metric = options.Metric;
        _dimension = options.Dimensions;
        _vectors = [.. collections.Shards.Select(_ => new ConcurrentDictionary<long, float[]>())];
        Reader = new ScatterGatherCoordinator(
            [.. collections.Shards.Select(s => decorateShard?.Invoke(s) ?? s)],
            new ScatterGatherOptions { PerShardTimeout = options.PerShardTimeout });
        _generation = new IndexGeneration(Reader, string.Empty, TryGetVector);
    }

    private IndexGeneration _generation;

    /// <summary>The collections behind the aliases; activations of a new embedding version are refused on this backend.</summary>
    public IndexGeneration Current => Volatile.Read(ref _generation);

    public void SetEmbeddingVersion(string embeddingVersion) =>
        Volatile.Write(ref _generation, _generation with { EmbeddingVersion = embeddingVersion });

    public string Backend => VectorIndexOptions.QdrantBackendName;

    public int Count => _vectors.Length;

    public ScatterGatherCoordinator Reader { get; }

    public int ShardOf(long key) => ShardRouter.ShardOf(key, _vectors.Length);

    public async Task UpsertAsync(long[] keys, float[] vectors, IReadOnlyList<IndexedItem> items, CancellationToken cancellationToken)
    {
        foreach (var (shard, rows) in RowsPerShard(keys))
        {
            var shardKeys = new long[rows.Count];
            var shardVectors = new float[rows.Count * _dimension];
            var payloads = new ItemPayload[rows.Count];
            for (var i = 0; i < rows.Count; i++)
            {
                shardKeys[i] = keys[rows[i]];
                vectors.AsSpan(rows[i] * _dimension, _dimension).CopyTo(shardVectors.AsSpan(i * _dimension, _dimension));
                payloads[i] = PayloadOf(items[rows[i]]);
            }

            await _collections.Shards[shard].UpsertAsync(shardKeys, shardVectors, payloads, cancellationToken);
            for (var i = 0; i < rows.Count; i++)
            {
                Remember(shard, shardKeys[i], shardVectors.AsSpan(i * _dimension, _dimension));
            }
        }
    }

    public async Task DeleteAsync(long[] keys, CancellationToken cancellationToken)
    {
        foreach (var (shard, rows) in RowsPerShard(keys))
        {
            var shardKeys = rows.Select(r => keys[r]).ToArray();
            await _collections.Shards[shard].DeleteAsync(shardKeys, cancellationToken);
            foreach (var key in shardKeys)
            {
                _vectors[shard].TryRemove(key, out _);
            }
        }
    }

    public bool TryGetVector(long key, Span<float> destination)
    {
        if (!_vectors[ShardOf(key)].TryGetValue(key, out var vector))
        {
            return false;
        }

        vector.CopyTo(destination);
        return true;
    }

    public Task RebuildAsync(IndexedItems items, Action shardSwapped, CancellationToken cancellationToken) =>
        _collections.RebuildAsync(
            key => items.TryGet(key, out var item) ? PayloadOf(item) : null,
            _ => shardSwapped(),
            cancellationToken);

    public ShardCounts CountsOf(int shard)
    {
        var vectors = _vectors[shard].Count;
        return new ShardCounts(_collections.Shards[shard].Version, vectors, 0, (long)vectors * _dimension * sizeof(float));
    }

    /// <summary>
    /// Creates missing collections and aliases, then reads every point back into the item map and the vector copy;
    /// returns how many points had no item id (they cannot be answered and are skipped).
    /// </summary>
    public async Task<int> LoadAsync(IndexedItems items, CancellationToken cancellationToken)
    {
        await _collections.EnsureAsync(cancellationToken);
        var skipped = 0;
        for (var shard = 0; shard < _vectors.Length; shard++)
        {
            await foreach (var point in _collections.ReadAllAsync(shard, cancellationToken))
            {
                if (point.ItemId is null || point.Vector.Length != _dimension)
                {
                    skipped++;
                    continue;
                }

                items.Set(point.Id, new IndexedItem(point.ItemId, null));
                Remember(shard, point.Id, point.Vector);
            }
        }

        return skipped;
    }

    private static ItemPayload PayloadOf(IndexedItem item)
    {
        var metadata = item.Metadata ?? ItemMetadata.Unknown;
        return new ItemPayload(metadata.Creator, metadata.Categories, metadata.Available) { ItemId = item.ItemId };
    }

    /// <summary>Keeps the vector as Qdrant stores it (normalized under cosine).</summary>
    private void Remember(int shard, long key, ReadOnlySpan<float> vector)
    {
        var copy = vector.ToArray();
        if (_metric == Metric.Cosine)
        {
            VectorKernels.Normalize(copy);
        }

        _vectors[shard][key] = copy;
    }

    private List<(int Shard, List<int> Rows)> RowsPerShard(long[] keys)
    {
        var rows = new List<int>?[_vectors.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            (rows[ShardOf(keys[i])] ??= []).Add(i);
        }

        return [.. rows.Select((r, s) => (s, r)).Where(p => p.r is { Count: > 0 }).Select(p => (p.s, p.r!))];
    }
}
