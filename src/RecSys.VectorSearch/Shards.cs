using System.IO.Hashing;
using System.Numerics;

namespace RecSys.VectorSearch;

/// <summary>What one shard is asked for.</summary>
/// <param name="K">Hits wanted.</param>
/// <param name="Ef">Beam width; 0 uses the shard's default.</param>
/// <param name="Filter">Ids that may be returned (null: all).</param>
public sealed record ShardSearchRequest(int K, int Ef = 0, SearchFilter? Filter = null);

/// <summary>One shard's answer, tagged with the index version that produced it.</summary>
public sealed record ShardSearchResult(int ShardId, long Version, SearchHit[] Hits)
{
    /// <summary>The node of each hit in <see cref="Labels"/>' index (aligned with <see cref="Hits"/>), when the shard has one.</summary>
    public int[]? Nodes { get; init; }

    /// <summary>The labels of the index that answered (an in-process shard's; null elsewhere).</summary>
    public NodeLabels? Labels { get; init; }

    /// <summary>How the shard answered (a remote shard plans for itself and reports <see cref="SearchPlan.Graph"/>).</summary>
    public SearchPlan Plan { get; init; }
}

/// <summary>
/// One partition of the vector space. Designed so that a remote store (for example one Qdrant collection per shard)
/// can implement it: all calls are asynchronous and cancellable, vectors are row-major floats, ids are the caller's longs,
/// scores are similarities (higher is better), and filters are either an allowed-id set (maps to a HasId condition) or a predicate.
/// </summary>
public interface IVectorShard
{
    int ShardId { get; }

    /// <summary>Increases with every applied change (upsert, delete, index swap); never decreases.</summary>
    long Version { get; }

    int Dimension { get; }

    /// <summary>Inserts or replaces <paramref name="ids"/> with rows of <paramref name="vectors"/> (ids.Length * Dimension floats).</summary>
    ValueTask UpsertAsync(ReadOnlyMemory<long> ids, ReadOnlyMemory<float> vectors, CancellationToken cancellationToken = default);

    /// <summary>Deletes ids (absent ones are ignored); returns how many were present.</summary>
    ValueTask<int> DeleteAsync(ReadOnlyMemory<long> ids, CancellationToken cancellationToken = default);

    ValueTask<ShardSearchResult> SearchAsync(ReadOnlyMemory<float> query, ShardSearchRequest request, CancellationToken cancellationToken = default);

    ValueTask<long> CountAsync(CancellationToken cancellationToken = default);
}

/// <summary>Stable assignment of item ids to shards: XxHash64 of the id's 8 little-endian bytes, modulo the shard count.</summary>
public static class ShardRouter
{
    private const ulong Prime1 = 11400714785074694791UL;
    private const ulong Prime2 = 14029467366897019727UL;
    private const ulong Prime3 = 1609587929392839161UL;
    private const ulong Prime4 = 9650029242287828579UL;
    private const ulong Prime5 = 2870177450012600261UL;

    public static int ShardOf(long id, int shardCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shardCount, 1);
        return (int)(Hash(id) % (ulong)shardCount);
    }

    /// <summary>
    /// XXH64 (seed 0) of the 8 little-endian bytes of <paramref name="id"/>, written out for that one length: the same value
    /// as <see cref="XxHash64.HashToUInt64"/> (tested) at a fraction of the cost, which counts when every hit of a
    /// 2,500-item search is routed.
    /// </summary>
    internal static ulong Hash(long id)
    {
        var h = Prime5 + 8;
        var k = (ulong)id * Prime2;
        k = BitOperations.RotateLeft(k, 31) * Prime1;
        h ^= k;
        h = (BitOperations.RotateLeft(h, 27) * Prime1) + Prime4;
        h ^= h >> 33;
        h *= Prime2;
        h ^= h >> 29;
        h *= Prime3;
        h ^= h >> 32;
        return h;
    }
}

/// <summary>
/// An in-process shard over an <see cref="HnswIndex"/>. The index reference can be swapped atomically for a freshly
/// built one (<see cref="SwapIndex"/>, <see cref="RebuildAsync"/>): a query reads the reference once, so it sees
/// either the old or the new index and never fails because of the swap.
/// </summary>
public sealed class LocalVectorShard : IVectorShard
{
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private HnswIndex _index;
    private long _version;

    public LocalVectorShard(int shardId, HnswOptions options, ExactScanOptions? exactScan = null)
        : this(shardId, new HnswIndex(options), exactScan)
    {
    }

    /// <param name="exactScan">When a search scans instead of walking the graph (null: <see cref="ExactScanOptions"/>' defaults).</param>
    public LocalVectorShard(int shardId, HnswIndex index, ExactScanOptions? exactScan = null)
    {
        ArgumentNullException.ThrowIfNull(index);
        exactScan?.Validate();
        ShardId = shardId;
        _index = index;
        ExactScan = exactScan ?? new ExactScanOptions();
    }

    /// <summary>The planner's settings: when a search is answered by an exact scan rather than the graph walk.</summary>
    public ExactScanOptions ExactScan { get; }

    public int ShardId { get; }

    public long Version => Volatile.Read(ref _version);

    public int Dimension => Index.Dimension;

    /// <summary>The index queries currently use.</summary>
    public HnswIndex Index => Volatile.Read(ref _index);

    public async ValueTask UpsertAsync(ReadOnlyMemory<long> ids, ReadOnlyMemory<float> vectors, CancellationToken cancellationToken = default)
    {
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var index = Index;
            if (ids.Length == 1) index.Upsert(ids.Span[0], vectors.Span);
            else index.AddBatch(ids, vectors);
            Interlocked.Increment(ref _version);
        }
        finally
        {
            _writeGate.Release();
        }
    }

    public async ValueTask<int> DeleteAsync(ReadOnlyMemory<long> ids, CancellationToken cancellationToken = default)
    {
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var index = Index;
            var n = 0;
            for (var i = 0; i < ids.Length; i++)
                if (index.Delete(ids.Span[i])) n++;
            Interlocked.Increment(ref _version);
            return n;
        }
        finally
        {
            _writeGate.Release();
        }
    }

    public ValueTask<ShardSearchResult> SearchAsync(ReadOnlyMemory<float> query, ShardSearchRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        cancellationToken.ThrowIfCancellationRequested();
        ArgumentOutOfRangeException.ThrowIfNegative(request.K);
        var version = Version;
        var index = Index;
        var hits = new SearchHit[request.K];
        var nodes = new int[request.K];
        var plan = ExactScan.Choose(request.K, request.Ef > 0 ? request.Ef : index.Options.EfSearch, index.NodeCount, index.Dimension);
        var n = index.Search(query.Span, hits, nodes, plan, request.Ef, request.Filter);
        if (n < hits.Length)
        {
            hits = hits[..n];
            nodes = nodes[..n];
        }

        return ValueTask.FromResult(new ShardSearchResult(ShardId, version, hits) { Nodes = nodes, Labels = index.Labels, Plan = plan });
    }

    public ValueTask<long> CountAsync(CancellationToken cancellationToken = default) => ValueTask.FromResult((long)Index.Count);

    /// <summary>Atomically replaces the index; returns the new version. In-flight queries finish on the old index.</summary>
    public long SwapIndex(HnswIndex fresh)
    {
        ArgumentNullException.ThrowIfNull(fresh);
        if (fresh.Dimension != Index.Dimension) ThrowHelper.DimensionMismatch(Index.Dimension, fresh.Dimension);
        _writeGate.Wait();
        try
        {
            Interlocked.Exchange(ref _index, fresh);
            return Interlocked.Increment(ref _version);
        }
        finally
        {
            _writeGate.Release();
        }
    }

    /// <summary>Writes the current index as a new snapshot version in <paramref name="store"/>; returns that version.</summary>
    public long SaveSnapshot(SnapshotStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store.Save(Index);
    }

    /// <summary>
    /// Opens a shard from the newest snapshot in <paramref name="store"/> that verifies (rolling back past corrupt ones;
    /// see <see cref="SnapshotLoadResult.Rejected"/>).
    /// </summary>
    public static (LocalVectorShard Shard, SnapshotLoadResult Load) FromSnapshot(int shardId, SnapshotStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        var load = store.LoadLatest();
        return (new LocalVectorShard(shardId, load.Index), load);
    }

    /// <summary>Builds a compacted copy (soft-deleted nodes dropped) off the query path and swaps it in. Writes wait meanwhile.</summary>
    public async Task<long> RebuildAsync(CancellationToken cancellationToken = default)
    {
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var current = Index;
            var fresh = await Task.Run(() => current.Rebuild(), cancellationToken).ConfigureAwait(false);
            Interlocked.Exchange(ref _index, fresh);
            return Interlocked.Increment(ref _version);
        }
        finally
        {
            _writeGate.Release();
        }
    }
}
