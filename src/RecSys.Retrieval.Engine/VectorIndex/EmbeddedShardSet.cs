using RecSys.VectorSearch;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>
/// In-process shards: one <see cref="LocalVectorShard"/> (HNSW) per shard, persisted by <see cref="SnapshotPersister"/>.
/// A rebuild compacts each shard (soft deletes dropped) and swaps it in; searches read each shard's index reference once.
/// </summary>
internal sealed class EmbeddedShardSet : IIndexShardSet
{
    private readonly HnswOptions _hnsw;
    private readonly LocalVectorShard[] _shards;

    /// <param name="decorateShard">Wraps the shards searches go through (tests inject slow or failing shards).</param>
    public EmbeddedShardSet(VectorIndexOptions options, Func<LocalVectorShard, IVectorShard>? decorateShard = null)
    {
        _hnsw = options.ToHnsw();
        _shards = new LocalVectorShard[options.Shards];
        var readShards = new IVectorShard[options.Shards];
        for (var i = 0; i < _shards.Length; i++)
        {
            _shards[i] = new LocalVectorShard(i, _hnsw);
            readShards[i] = decorateShard?.Invoke(_shards[i]) ?? _shards[i];
        }

        Reader = new ScatterGatherCoordinator(readShards, new ScatterGatherOptions
        {
            PerShardTimeout = options.PerShardTimeout,
        });
    }

    public string Backend => "embedded";

    public int Count => _shards.Length;

    public ScatterGatherCoordinator Reader { get; }

    public IReadOnlyList<LocalVectorShard> Shards => _shards;

    public int ShardOf(long key) => ShardRouter.ShardOf(key, _shards.Length);

    /// <summary>
    /// Writes each shard's rows. Workaround for the engine: an insert links only to live nodes, so rows written into a graph
    /// whose every node is (or is about to be, by replacement) soft-deleted would end up unreachable. Such a shard (live count
    /// at most the rows it receives) is rebuilt fresh from its remaining live items plus the rows, then swapped in; this only
    /// happens to nearly empty shards, so it is cheap.
    /// </summary>
    public async Task UpsertAsync(long[] keys, float[] vectors, IReadOnlyList<IndexedItem> items, CancellationToken cancellationToken)
    {
        var dim = _hnsw.Dimension;
        foreach (var (shard, rows) in RowsPerShard(keys))
        {
            var shardKeys = new long[rows.Count];
            var shardVectors = new float[rows.Count * dim];
            for (var i = 0; i < rows.Count; i++)
            {
                shardKeys[i] = keys[rows[i]];
                vectors.AsSpan(rows[i] * dim, dim).CopyTo(shardVectors.AsSpan(i * dim, dim));
            }

            var current = shard.Index;
            if (current.NodeCount > 0 && current.Count <= rows.Count)
            {
                shard.SwapIndex(await Task.Run(() => FreshIndex(current, shardKeys, shardVectors), cancellationToken));
            }
            else
            {
                await shard.UpsertAsync(shardKeys, shardVectors, cancellationToken);
            }
        }
    }

    public async Task DeleteAsync(long[] keys, CancellationToken cancellationToken)
    {
        foreach (var (shard, rows) in RowsPerShard(keys))
        {
            await shard.DeleteAsync(rows.Select(r => keys[r]).ToArray(), cancellationToken);
        }
    }

    public bool TryGetVector(long key, Span<float> destination) => _shards[ShardOf(key)].Index.TryGetVector(key, destination);

    public async Task RebuildAsync(IndexedItems items, Action shardSwapped, CancellationToken cancellationToken)
    {
        foreach (var shard in _shards)
        {
            // Each shard builds a compacted copy and swaps it in; searches go on meanwhile.
            await shard.RebuildAsync(cancellationToken);
            shardSwapped();
        }
    }

    public ShardCounts CountsOf(int shard)
    {
        var index = _shards[shard].Index;
        return new ShardCounts(_shards[shard].Version, index.Count, index.DeletedCount, index.MemoryBytes);
    }

    private List<(LocalVectorShard Shard, List<int> Rows)> RowsPerShard(long[] keys)
    {
        var rows = new List<int>?[_shards.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            (rows[ShardOf(keys[i])] ??= []).Add(i);
        }

        var result = new List<(LocalVectorShard, List<int>)>();
        for (var s = 0; s < rows.Length; s++)
        {
            if (rows[s] is { Count: > 0 } mine)
            {
                result.Add((_shards[s], mine));
            }
        }

        return result;
    }

    private HnswIndex FreshIndex(HnswIndex current, long[] keys, float[] vectors)
    {
        var dim = _hnsw.Dimension;
        var replaced = keys.ToHashSet();
        var allKeys = new List<long>(keys);
        var all = new List<float>(vectors);
        var buffer = new float[dim];
        foreach (var key in current.GetIds())
        {
            if (!replaced.Contains(key) && current.TryGetVector(key, buffer))
            {
                allKeys.Add(key);
                all.AddRange(buffer);
            }
        }

        var fresh = new HnswIndex(_hnsw with { InitialCapacity = Math.Max(16, allKeys.Count) });
        fresh.AddBatch(allKeys.ToArray(), all.ToArray());
        return fresh;
    }
}
