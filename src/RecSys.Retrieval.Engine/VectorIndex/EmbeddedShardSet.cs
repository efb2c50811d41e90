using RecSys.VectorSearch;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>
/// In-process shards: one <see cref="LocalVectorShard"/> (HNSW) per shard, persisted by <see cref="SnapshotPersister"/>.
/// A rebuild compacts each shard (soft deletes dropped) and swaps it in; searches read each shard's index reference once.
/// An activation (<see cref="ReplaceAll"/>) swaps every shard and the embedding version together: one reference write of the
/// <see cref="Current"/> generation.
/// </summary>
internal sealed class EmbeddedShardSet : IIndexShardSet
{
    private readonly HnswOptions _hnsw;
    private readonly ExactScanOptions _exactScan;
    private readonly TimeSpan _perShardTimeout;
    private readonly bool _inlineSearch;
    private readonly Func<LocalVectorShard, IVectorShard>? _decorateShard;
    private State _state;

    /// <param name="decorateShard">Wraps the shards searches go through (tests inject slow or failing shards).</param>
    public EmbeddedShardSet(VectorIndexOptions options, Func<LocalVectorShard, IVectorShard>? decorateShard = null)
    {
        _hnsw = options.ToHnsw();
        _exactScan = options.ToExactScan();
        _perShardTimeout = options.PerShardTimeout;
        _inlineSearch = options.InlineShardSearch;
        _decorateShard = decorateShard;
        _state = CreateState([.. Enumerable.Range(0, options.Shards).Select(i => new LocalVectorShard(i, _hnsw, _exactScan))], string.Empty);
    }

    public string Backend => "embedded";

    public int Count => CurrentShards.Length;

    public ScatterGatherCoordinator Reader => Current.Reader;

    public IndexGeneration Current => Volatile.Read(ref _state).Generation;

    public IReadOnlyList<LocalVectorShard> Shards => CurrentShards;

    /// <summary>The HNSW settings every shard is built with.</summary>
    public HnswOptions Hnsw => _hnsw;

    private LocalVectorShard[] CurrentShards => Volatile.Read(ref _state).Shards;

    /// <summary>
    /// Swaps in freshly built shards (one index per shard, in shard order) labelled with <paramref name="embeddingVersion"/>,
    /// all at once; returns the generation it replaced so that a failed activation can put it back with <see cref="Restore"/>.
    /// Called under the manager's gate.
    /// </summary>
    public State ReplaceAll(IReadOnlyList<HnswIndex> built, string embeddingVersion)
    {
        if (built.Count != Count)
        {
            throw new ArgumentException($"{built.Count} shards were built for a set of {Count}.", nameof(built));
        }

        var previous = Volatile.Read(ref _state);
        Volatile.Write(ref _state, CreateState([.. built.Select((index, i) => new LocalVectorShard(i, index, _exactScan))], embeddingVersion));
        return previous;
    }

    /// <summary>Puts back what <see cref="ReplaceAll"/> returned.</summary>
    public void Restore(State previous) => Volatile.Write(ref _state, previous);

    public void SetEmbeddingVersion(string embeddingVersion)
    {
        var current = Volatile.Read(ref _state);
        Volatile.Write(ref _state, current with { Generation = current.Generation with { EmbeddingVersion = embeddingVersion } });
    }

    public int ShardOf(long key) => ShardRouter.ShardOf(key, CurrentShards.Length);

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

    public bool TryGetVector(long key, Span<float> destination) => Current.TryGetVector(key, destination);

    public async Task RebuildAsync(IndexedItems items, Action shardSwapped, CancellationToken cancellationToken)
    {
        foreach (var shard in CurrentShards)
        {
            // Each shard builds a compacted copy and swaps it in; searches go on meanwhile.
            await shard.RebuildAsync(cancellationToken);
            shardSwapped();
        }
    }

    public ShardCounts CountsOf(int shard)
    {
        var local = CurrentShards[shard];
        var index = local.Index;
        return new ShardCounts(local.Version, index.Count, index.DeletedCount, index.MemoryBytes);
    }

    private State CreateState(LocalVectorShard[] shards, string embeddingVersion)
    {
        var reader = new ScatterGatherCoordinator(
            [.. shards.Select(s => _decorateShard?.Invoke(s) ?? s)],
            new ScatterGatherOptions { PerShardTimeout = _perShardTimeout, InlineLocalShards = _inlineSearch });
        var count = shards.Length;
        return new State(shards, new IndexGeneration(reader, embeddingVersion, (key, destination) =>
            shards[ShardRouter.ShardOf(key, count)].Index.TryGetVector(key, destination)));
    }

    private List<(LocalVectorShard Shard, List<int> Rows)> RowsPerShard(long[] keys)
    {
        var shards = CurrentShards;
        var rows = new List<int>?[shards.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            (rows[ShardOf(keys[i])] ??= []).Add(i);
        }

        var result = new List<(LocalVectorShard, List<int>)>();
        for (var s = 0; s < rows.Length; s++)
        {
            if (rows[s] is { Count: > 0 } mine)
            {
                result.Add((shards[s], mine));
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

    /// <summary>The shards and the generation searches see, replaced as one.</summary>
    internal sealed record State(LocalVectorShard[] Shards, IndexGeneration Generation);
}
