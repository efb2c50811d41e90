using System.Runtime.InteropServices;

namespace RecSys.VectorSearch;

/// <summary>Full-precision vectors by row, used to re-rank PQ candidates exactly.</summary>
public interface IVectorStore
{
    int Dimension { get; }

    int Count { get; }

    ReadOnlySpan<float> Get(int row);
}

/// <summary>An in-memory row-major vector store.</summary>
public sealed class ArrayVectorStore : IVectorStore
{
    private readonly float[] _data;

    public ArrayVectorStore(float[] data, int dimension)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Length % dimension != 0) ThrowHelper.DimensionMismatch(dimension, data.Length % dimension);
        _data = data;
        Dimension = dimension;
    }

    public int Dimension { get; }

    public int Count => _data.Length / Dimension;

    public ReadOnlySpan<float> Get(int row) => _data.AsSpan(row * Dimension, Dimension);
}

/// <summary>How a <see cref="PqIndex"/> finds candidates.</summary>
public enum PqSearchMode
{
    /// <summary>Scan every code with the distance table (exhaustive, memory = codes + ids).</summary>
    FlatScan = 0,

    /// <summary>Walk an HNSW graph built on full vectors, scoring nodes by their codes.</summary>
    Graph = 1,
}

/// <summary>
/// Product-quantized search: candidates are scored with asymmetric distance tables over 8-bit codes, then the
/// best <c>rerank</c> candidates are re-scored exactly against full vectors (which can be a memory-mapped file).
/// </summary>
public sealed unsafe class PqIndex
{
    private readonly ProductQuantizer _pq;
    private readonly byte[] _codes;
    private readonly long[] _ids;
    private readonly IVectorStore? _fullVectors;
    private readonly HnswIndex? _graph;
    private readonly Metric _metric;
    private readonly ContextPool _pool = new();

    private PqIndex(ProductQuantizer pq, byte[] codes, long[] ids, IVectorStore? full, HnswIndex? graph, Metric metric)
    {
        _pq = pq;
        _codes = codes;
        _ids = ids;
        _fullVectors = full;
        _graph = graph;
        _metric = metric;
    }

    public PqSearchMode Mode => _graph is null ? PqSearchMode.FlatScan : PqSearchMode.Graph;

    public ProductQuantizer Quantizer => _pq;

    public int Count => _ids.Length;

    /// <summary>Bytes of PQ code per vector.</summary>
    public int CodeBytesPerVector => _pq.CodeSize;

    /// <summary>Resident bytes per vector for search without the full vectors: codes + id (+ graph links in Graph mode).</summary>
    public double ResidentBytesPerVector
    {
        get
        {
            double b = _pq.CodeSize + sizeof(long);
            if (_graph is not null)
            {
                var s = _graph.Storage;
                long upper = 0;
                for (var i = 0; i < _graph.UsedNodes; i++)
                    if (s.Upper[i] is { } u) upper += u.Length * 4L;
                b += (s.Stride0 * 4.0) + 1 + ((double)upper / Math.Max(1, _graph.UsedNodes));
                GC.KeepAlive(s);
            }
            return b;
        }
    }

    /// <summary>
    /// Exhaustive PQ index over rows of <paramref name="vectors"/> (normalized first for cosine). Re-ranking reads
    /// <paramref name="rerankStore"/> (rows aligned with <paramref name="ids"/>); when null, re-ranking is unavailable.
    /// </summary>
    public static PqIndex BuildFlat(ProductQuantizer pq, long[] ids, ReadOnlyMemory<float> vectors, Metric metric, IVectorStore? rerankStore)
    {
        ArgumentNullException.ThrowIfNull(pq);
        ArgumentNullException.ThrowIfNull(ids);
        if (vectors.Length != (long)ids.Length * pq.Dimension) ThrowHelper.DimensionMismatch(ids.Length * pq.Dimension, vectors.Length);
        var data = vectors;
        if (metric == Metric.Cosine)
        {
            var copy = vectors.ToArray();
            for (var i = 0; i < ids.Length; i++) VectorKernels.Normalize(copy.AsSpan(i * pq.Dimension, pq.Dimension));
            data = copy;
        }
        return new PqIndex(pq, pq.EncodeBatch(data), (long[])ids.Clone(), rerankStore, null, metric);
    }

    /// <summary>
    /// PQ codes for every node of <paramref name="graph"/>; the graph's links drive traversal and its full vectors
    /// (or <paramref name="rerankStore"/>, rows = internal node ids) drive re-ranking.
    /// </summary>
    public static PqIndex BuildOnGraph(ProductQuantizer pq, HnswIndex graph, IVectorStore? rerankStore = null)
    {
        ArgumentNullException.ThrowIfNull(pq);
        ArgumentNullException.ThrowIfNull(graph);
        var s = graph.Storage;
        var n = graph.UsedNodes;
        var dense = new float[(long)n * graph.Dimension];
        s.CopyVectorsTo(dense, n);
        var vecs = new ReadOnlyMemory<float>(dense);
        var ids = new long[n];
        Array.Copy(s.Ids, ids, n);
        return new PqIndex(pq, pq.EncodeBatch(vecs), ids, rerankStore, graph, graph.Metric);
    }

    /// <summary>
    /// Top-<paramref name="k"/>. <paramref name="rerank"/> = 0 returns PQ-approximate scores; otherwise the best
    /// max(rerank, k) PQ candidates are re-scored exactly. <paramref name="ef"/> is the beam width in Graph mode.
    /// </summary>
    public SearchHit[] Search(ReadOnlySpan<float> query, int k, int rerank = 0, int ef = 0, SearchFilter? filter = null)
    {
        if (query.Length != _pq.Dimension) ThrowHelper.DimensionMismatch(_pq.Dimension, query.Length);
        if (k <= 0) return [];
        if (rerank > 0 && _fullVectors is null && _graph is null)
            throw new InvalidOperationException("This PQ index has no full vectors to re-rank with.");
        var take = rerank > 0 ? Math.Max(rerank, k) : k;
        var dim = _pq.Dimension;
        var ctx = _pool.Rent();
        var table = new float[_pq.Segments * ProductQuantizer.Centroids];
        var graphStorage = _graph?.Storage;
        try
        {
            ctx.EnsureQuery(dim);
            var q = ctx.Query.AsSpan(0, dim);
            query.CopyTo(q);
            if (_metric == Metric.Cosine) VectorKernels.Normalize(q);
            _pq.ComputeInnerProductTable(q, table);
            ctx.EnsureSorted(Math.Max(take, ef));
            int n;
            fixed (byte* codes = _codes)
            fixed (float* t = table)
            {
                // SAFETY: codes and table are pinned for the whole block; nodes index rows < Count.
                var scorer = new PqScorer(codes, t, _pq.Segments);
                n = _graph is not null
                    ? _graph.SearchNodes(graphStorage!, ctx, ref scorer, ef > 0 ? ef : _graph.Options.EfSearch, take, filter, null, ctx.SortedNode, ctx.SortedDist)
                    : Scan(ctx, ref scorer, take, filter);
            }
            if (rerank <= 0)
            {
                var res = new SearchHit[n];
                for (var i = 0; i < n; i++) res[i] = new SearchHit(_ids[ctx.SortedNode[i]], -ctx.SortedDist[i]);
                return res;
            }
            return Rerank(ctx, q, n, k, graphStorage);
        }
        finally
        {
            GC.KeepAlive(graphStorage);
            _pool.Return(ctx);
        }
    }

    private int Scan(SearchContext ctx, ref PqScorer scorer, int take, SearchFilter? filter)
    {
        var heap = ctx.Results;
        heap.Clear();
        var ids = _ids;
        for (var i = 0; i < ids.Length; i++)
        {
            var d = scorer.Distance(i);
            if (heap.Count < take)
            {
                if (filter is not null && !filter.Allows(ids[i])) continue;
                heap.Push(d, i);
            }
            else if (d < heap.TopDistance)
            {
                if (filter is not null && !filter.Allows(ids[i])) continue;
                heap.Pop();
                heap.Push(d, i);
            }
        }
        var n = heap.Count;
        heap.DrainAscending(ctx.SortedDist.AsSpan(0, n), ctx.SortedNode.AsSpan(0, n));
        return n;
    }

    private SearchHit[] Rerank(SearchContext ctx, ReadOnlySpan<float> q, int n, int k, HnswStorage? graphStorage)
    {
        var dim = _pq.Dimension;
        var heap = ctx.Results;
        heap.Clear();
        for (var i = 0; i < n; i++)
        {
            var row = ctx.SortedNode[i];
            ReadOnlySpan<float> v = _fullVectors is not null
                ? _fullVectors.Get(row)
                : new ReadOnlySpan<float>(graphStorage!.Vector(row), dim);
            var d = -VectorKernels.Dot(ref MemoryMarshal.GetReference(q), ref MemoryMarshal.GetReference(v), dim);
            if (heap.Count < k) heap.Push(d, row);
            else if (d < heap.TopDistance)
            {
                heap.Pop();
                heap.Push(d, row);
            }
        }
        var m = heap.Count;
        Span<float> dist = m <= 512 ? stackalloc float[m] : new float[m];
        Span<int> node = m <= 512 ? stackalloc int[m] : new int[m];
        heap.DrainAscending(dist, node);
        var res = new SearchHit[m];
        for (var i = 0; i < m; i++) res[i] = new SearchHit(_ids[node[i]], -dist[i]);
        return res;
    }
}
