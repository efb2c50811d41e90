using System.Runtime.CompilerServices;

namespace RecSys.VectorSearch;

/// <summary>
/// Hierarchical navigable small world graph over float32 vectors (Malkov and Yashunin), inner product or cosine.
/// Thread-safety: any number of concurrent searches, concurrent with adds and deletes (adds run in parallel
/// with per-node locks on neighbour lists, as hnswlib does). Deletes are soft: the node keeps routing
/// queries but is never returned, and it is dropped by <see cref="Rebuild"/>.
/// </summary>
public sealed unsafe partial class HnswIndex
{
    internal const int MaxLevel = 31;
    private readonly HnswOptions _options;
    private readonly int _dim;
    private readonly int _m;
    private readonly int _m0;
    private readonly double _levelMult;
    private readonly ContextPool _pool = new();
    private readonly ReaderWriterLockSlim _resizeLock = new(LockRecursionPolicy.NoRecursion);
    private readonly Lock _mapLock = new();
    private readonly Lock _globalLock = new();
    private readonly Dictionary<long, int> _idMap = [];
    private readonly NodeLabels _labels;
    private volatile HnswStorage _storage;
    private int _used;         // internal ids handed out
    private int _deletedCount;
    private long _entry = Pack(-1, 0); // (maxLevel << 32) | entry node, read atomically by searches

    public HnswIndex(HnswOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _dim = options.Dimension;
        _m = options.M;
        _m0 = 2 * options.M;
        _levelMult = 1.0 / Math.Log(options.M);
        _storage = new HnswStorage(Math.Max(16, options.InitialCapacity), _dim, _m);
        _labels = new NodeLabels(_storage.Capacity);
    }

    /// <summary>The callers' labels of this index's nodes (empty when built; see <see cref="NodeLabels"/>).</summary>
    public NodeLabels Labels => _labels;

    public HnswOptions Options => _options;

    public int Dimension => _dim;

    public Metric Metric => _options.Metric;

    /// <summary>Live (not deleted) items.</summary>
    public int Count
    {
        get
        {
            lock (_mapLock) return _idMap.Count;
        }
    }

    /// <summary>Internal nodes including soft-deleted ones.</summary>
    public int NodeCount => Volatile.Read(ref _used);

    public int DeletedCount => Volatile.Read(ref _deletedCount);

    public int Capacity => _storage.Capacity;

    /// <summary>Highest layer of the graph (-1 when empty).</summary>
    public int TopLevel => Entry().node < 0 ? -1 : Entry().level;

    public bool Contains(long id)
    {
        lock (_mapLock) return _idMap.ContainsKey(id);
    }

    /// <summary>Bytes held by vectors, links, ids and the id map (capacity not yet used is excluded).</summary>
    public long MemoryBytes
    {
        get
        {
            var s = _storage;
            var n = NodeCount;
            long upper = 0;
            for (var i = 0; i < n; i++)
                if (s.Upper[i] is { } u) upper += (u.Length * 4L) + 24;
            return ((long)n * (s.NodeBytes + 8 + 1 + 4 + 8)) + upper + (Count * 24L);
        }
    }

    private static long Pack(int node, int level) => ((long)level << 32) | (uint)node;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private (int node, int level) Entry()
    {
        var e = Volatile.Read(ref _entry);
        return ((int)(e & 0xFFFFFFFF), (int)(e >> 32));
    }

    private int RandomLevel(int node)
    {
        var h = Mix((ulong)(uint)_options.Seed * 0x9E3779B97F4A7C15UL + (ulong)node + 1);
        var u = ((h >> 11) + 0.5) * (1.0 / (1UL << 53));
        return Math.Min(MaxLevel, (int)(-Math.Log(u) * _levelMult));
    }

    internal static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    // ---------------------------------------------------------------- writes

    /// <summary>Adds one vector. Throws when <paramref name="id"/> is already present (use <see cref="Upsert"/>).</summary>
    public void Add(long id, ReadOnlySpan<float> vector) => AddCore(id, vector, replace: false);

    /// <summary>Adds or replaces: an existing id is soft-deleted and re-inserted with the new vector.</summary>
    public void Upsert(long id, ReadOnlySpan<float> vector) => AddCore(id, vector, replace: true);

    private void AddCore(long id, ReadOnlySpan<float> vector, bool replace)
    {
        if (vector.Length != _dim) ThrowHelper.DimensionMismatch(_dim, vector.Length);
        while (true)
        {
            _resizeLock.EnterReadLock();
            try
            {
                var s = _storage;
                var node = Reserve(s, id, replace);
                if (node >= 0)
                {
                    WriteNode(s, node, id, vector);
                    var ctx = _pool.Rent();
                    try
                    {
                        Insert(s, ctx, node);
                    }
                    finally
                    {
                        _pool.Return(ctx);
                    }
                    return;
                }
            }
            finally
            {
                _resizeLock.ExitReadLock();
            }
            EnsureCapacity(Volatile.Read(ref _used) + 1);
        }
    }

    /// <summary>
    /// Adds many vectors (row-major, <c>ids.Length * Dimension</c> floats), linking them in parallel on
    /// <see cref="HnswOptions.MaxDegreeOfParallelism"/> threads. Existing ids are replaced.
    /// </summary>
    public void AddBatch(ReadOnlyMemory<long> ids, ReadOnlyMemory<float> vectors, int maxDegreeOfParallelism = 0)
    {
        var n = ids.Length;
        if (vectors.Length != (long)n * _dim) ThrowHelper.DimensionMismatch(n * _dim, vectors.Length);
        if (n == 0) return;
        EnsureCapacity(Volatile.Read(ref _used) + n);
        var nodes = new int[n];
        _resizeLock.EnterReadLock();
        try
        {
            var s = _storage;
            for (var i = 0; i < n; i++)
            {
                var node = Reserve(s, ids.Span[i], replace: true);
                if (node < 0) throw new InvalidOperationException("Capacity changed during a batch insert.");
                nodes[i] = node;
                WriteNode(s, node, ids.Span[i], vectors.Span.Slice(i * _dim, _dim));
            }
            var dop = maxDegreeOfParallelism != 0 ? maxDegreeOfParallelism : _options.MaxDegreeOfParallelism;
            var start = 0;
            if (Entry().node < 0)
            {
                var ctx0 = _pool.Rent();
                Insert(s, ctx0, nodes[0]);
                _pool.Return(ctx0);
                start = 1;
            }
            Parallel.For(
                start,
                n,
                new ParallelOptions { MaxDegreeOfParallelism = dop },
                () => _pool.Rent(),
                (i, _, ctx) =>
                {
                    Insert(s, ctx, nodes[i]);
                    return ctx;
                },
                ctx => _pool.Return(ctx));
        }
        finally
        {
            _resizeLock.ExitReadLock();
        }
    }

    /// <summary>Soft-deletes <paramref name="id"/>; returns false when it was absent.</summary>
    public bool Delete(long id)
    {
        _resizeLock.EnterReadLock();
        try
        {
            int node;
            lock (_mapLock)
            {
                if (!_idMap.Remove(id, out node)) return false;
            }
            _storage.MarkDeleted(node);
            Interlocked.Increment(ref _deletedCount);
            return true;
        }
        finally
        {
            _resizeLock.ExitReadLock();
        }
    }

    /// <summary>Grows the arrays to hold at least <paramref name="capacity"/> nodes.</summary>
    public void EnsureCapacity(int capacity)
    {
        if (capacity <= _storage.Capacity) return;
        _resizeLock.EnterWriteLock();
        try
        {
            var s = _storage;
            if (capacity <= s.Capacity) return;
            var newCap = Math.Max(capacity, s.Capacity * 2);
            _storage = s.GrowTo(newCap, _used, _m);
        }
        finally
        {
            _resizeLock.ExitWriteLock();
        }
    }

    private int Reserve(HnswStorage s, long id, bool replace)
    {
        lock (_mapLock)
        {
            if (_used >= s.Capacity) return -1;
            if (_idMap.TryGetValue(id, out var old))
            {
                if (!replace) ThrowHelper.DuplicateId(id);
                s.MarkDeleted(old);
                Interlocked.Increment(ref _deletedCount);
            }
            var node = _used;
            _idMap[id] = node;
            Volatile.Write(ref _used, node + 1);
            return node;
        }
    }

    private void WriteNode(HnswStorage s, int node, long id, ReadOnlySpan<float> vector)
    {
        var dst = new Span<float>(s.Vector(node), _dim);
        vector.CopyTo(dst);
        if (_options.Metric == Metric.Cosine) VectorKernels.Normalize(dst);
        var level = RandomLevel(node);
        s.Levels[node] = (byte)level;
        s.Ids[node] = id;
        *s.Links0(node) = 0;
        s.Upper[node] = level > 0 ? new int[level * s.StrideUpper] : null;
        s.MarkReady(node);
    }

    private void Insert(HnswStorage s, SearchContext ctx, int node)
    {
        var level = (int)s.Levels[node];
        var scorer = new FullScorer(s, s.Vector(node));
        var holdGlobal = false;
        int ep, maxLevel;
        _globalLock.Enter();
        try
        {
            (ep, maxLevel) = Entry();
            if (ep < 0)
            {
                Volatile.Write(ref _entry, Pack(node, level));
                return;
            }
            holdGlobal = level > maxLevel;
            if (!holdGlobal) _globalLock.Exit();

            var cur = ep;
            var curDist = scorer.Distance(cur);
            for (var l = maxLevel; l > level; l--) cur = Greedy(s, ref scorer, cur, ref curDist, l);

            // Soft-deleted nodes stay in the graph until the next rebuild, so they are valid neighbours while inserting:
            // excluding them would leave a new node unlinked when its region (or the whole graph) is deleted.
            Span<int> selected = stackalloc int[_m];
            for (var l = Math.Min(level, maxLevel); l >= 0; l--)
            {
                ctx.Visited.Reset(s.Capacity);
                SearchLayer(s, ctx, ref scorer, cur, curDist, l, _options.EfConstruction, FilterMode.None, null, null, node);
                var found = ctx.Results.Count;
                if (found == 0) continue;
                ctx.EnsureSorted(found);
                ctx.Results.DrainAscending(ctx.SortedDist, ctx.SortedNode);
                cur = ctx.SortedNode[0];
                curDist = ctx.SortedDist[0];
                var nSel = SelectHeuristic(s, ctx.SortedDist.AsSpan(0, found), ctx.SortedNode.AsSpan(0, found), _m, selected);
                Connect(s, node, l, selected[..nSel]);
            }
            if (holdGlobal) Volatile.Write(ref _entry, Pack(node, level));
        }
        finally
        {
            if (_globalLock.IsHeldByCurrentThread) _globalLock.Exit();
        }
    }

    private void Connect(HnswStorage s, int node, int level, ReadOnlySpan<int> selected)
    {
        var maxM = level == 0 ? _m0 : _m;
        s.Lock(node);
        var own = s.Links(node, level);
        for (var i = 0; i < selected.Length; i++) own[1 + i] = selected[i];
        Volatile.Write(ref own[0], selected.Length);
        s.Unlock(node);

        Span<float> dist = stackalloc float[maxM + 1];
        Span<int> cand = stackalloc int[maxM + 1];
        Span<int> keep = stackalloc int[maxM];
        for (var i = 0; i < selected.Length; i++)
        {
            var nb = selected[i];
            s.Lock(nb);
            try
            {
                var links = s.Links(nb, level);
                var cnt = links[0];
                var dup = false;
                for (var j = 1; j <= cnt; j++) dup |= links[j] == node;
                if (dup) continue;
                if (cnt < maxM)
                {
                    links[1 + cnt] = node;
                    Volatile.Write(ref links[0], cnt + 1);
                    continue;
                }
                var nbVec = s.Vector(nb);
                var n = 0;
                for (var j = 1; j <= cnt; j++) cand[n++] = links[j];
                cand[n++] = node;
                for (var j = 0; j < n; j++) dist[j] = Dist(nbVec, s.Vector(cand[j]));
                SortAscending(dist[..n], cand[..n]);
                var kept = SelectHeuristic(s, dist[..n], cand[..n], maxM, keep);
                for (var j = 0; j < kept; j++) links[1 + j] = keep[j];
                Volatile.Write(ref links[0], kept);
            }
            finally
            {
                s.Unlock(nb);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private float Dist(float* a, float* b) => -VectorKernels.Dot(ref Unsafe.AsRef<float>(a), ref Unsafe.AsRef<float>(b), _dim);

    private static void SortAscending(Span<float> dist, Span<int> node)
    {
        for (var i = 1; i < dist.Length; i++)
        {
            var d = dist[i];
            var v = node[i];
            var j = i - 1;
            while (j >= 0 && dist[j] > d)
            {
                dist[j + 1] = dist[j];
                node[j + 1] = node[j];
                j--;
            }
            dist[j + 1] = d;
            node[j + 1] = v;
        }
    }

    /// <summary>hnswlib's heuristic: keep a candidate only if it is closer to the base than to every kept one.</summary>
    private int SelectHeuristic(HnswStorage s, ReadOnlySpan<float> sortedDist, ReadOnlySpan<int> sortedNode, int m, Span<int> output)
    {
        if (sortedNode.Length < m)
        {
            sortedNode.CopyTo(output);
            return sortedNode.Length;
        }
        var cnt = 0;
        for (var i = 0; i < sortedNode.Length && cnt < m; i++)
        {
            var c = sortedNode[i];
            var cv = s.Vector(c);
            var good = true;
            for (var j = 0; j < cnt; j++)
            {
                if (Dist(cv, s.Vector(output[j])) < sortedDist[i])
                {
                    good = false;
                    break;
                }
            }
            if (good) output[cnt++] = c;
        }
        return cnt;
    }

    // ---------------------------------------------------------------- search core

    internal enum FilterMode
    {
        None = 0,
        Deleted = 1,
        Full = 2,
    }

    private int Greedy<TScorer>(HnswStorage s, ref TScorer scorer, int cur, ref float curDist, int level)
        where TScorer : struct, IScorer
    {
        var cap = (uint)s.Capacity;
        var changed = true;
        while (changed)
        {
            changed = false;
            var links = s.Links(cur, level);
            var cnt = Math.Min(Volatile.Read(ref links[0]), links.Length - 1);
            for (var j = 1; j <= cnt; j++)
            {
                var nb = links[j];
                if ((uint)nb >= cap) continue;
                var d = scorer.Distance(nb);
                if (d < curDist)
                {
                    curDist = d;
                    cur = nb;
                    changed = true;
                }
            }
        }
        return cur;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Allowed(HnswStorage s, int node, FilterMode mode, SearchFilter? filter, FilterBitset? bitset)
    {
        if (mode == FilterMode.None) return true;
        if (s.IsDeleted(node)) return false;
        if (mode == FilterMode.Deleted) return true;
        if (bitset is not null && !bitset.Get(node)) return false;
        return filter is null || filter.Allows(s.Ids[node]);
    }

    /// <summary>Beam search on one layer; leaves the best <paramref name="ef"/> allowed nodes in ctx.Results (a max-heap).</summary>
    private void SearchLayer<TScorer>(HnswStorage s, SearchContext ctx, ref TScorer scorer, int ep, float epDist, int level, int ef,
        FilterMode mode, SearchFilter? filter, FilterBitset? bitset, int exclude = -1)
        where TScorer : struct, IScorer
    {
        var visited = ctx.Visited;
        var top = ctx.Results;
        var cand = ctx.Candidates;
        top.Clear();
        cand.Clear();
        visited.TestAndSet(ep);
        if (exclude >= 0) visited.TestAndSet(exclude);
        if (ep != exclude && Allowed(s, ep, mode, filter, bitset)) top.Push(epDist, ep);
        var lower = epDist;
        cand.Push(epDist, ep);
        var cap = (uint)s.Capacity;
        var maxCnt = level == 0 ? _m0 : _m;
        var unfiltered = mode == FilterMode.None;
        while (cand.Count > 0)
        {
            var cd = cand.TopDistance;
            if (cd > lower && (top.Count == ef || unfiltered)) break;
            var c = cand.TopNode;
            cand.Pop();
            int* ll;
            if (level == 0)
            {
                // The next candidate is most likely the one expanded after this: its link list (past its vector, in lines
                // the scoring did not load) is fetched while this one is expanded.
                // SAFETY: prefetch never faults; candidates came from this storage's links.
                if (cand.Count > 0 && System.Runtime.Intrinsics.X86.Sse.IsSupported)
                    System.Runtime.Intrinsics.X86.Sse.Prefetch0(s.Links0(cand.TopNode));
                // SAFETY: c < Capacity (it came from this storage's links or is the entry point).
                ll = s.Links0(c);
            }
            else
            {
                var up = s.Upper[c];
                if (up is null) continue;
                // SAFETY: Upper arrays are not pinned; the pointer is used only inside this fixed block.
                fixed (int* p = &up[(level - 1) * s.StrideUpper])
                {
                    ExpandNode(s, ctx, ref scorer, p, maxCnt, cap, ef, ref lower, mode, filter, bitset);
                }
                continue;
            }
            ExpandNode(s, ctx, ref scorer, ll, maxCnt, cap, ef, ref lower, mode, filter, bitset);
        }
    }

    /// <summary>
    /// Expands one candidate: first collects its unvisited neighbours and prefetches all their vectors (so the memory
    /// loads overlap), then scores them. hnswlib prefetches one neighbour ahead; batching gives more loads in flight.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ExpandNode<TScorer>(HnswStorage s, SearchContext ctx, ref TScorer scorer, int* ll, int maxCnt, uint cap, int ef,
        ref float lower, FilterMode mode, SearchFilter? filter, FilterBitset? bitset)
        where TScorer : struct, IScorer
    {
        var visited = ctx.Visited;
        var top = ctx.Results;
        var cand = ctx.Candidates;
        var cnt = Volatile.Read(ref *ll);
        if (cnt > maxCnt) cnt = maxCnt;
        var fresh = stackalloc int[cnt];
        var nFresh = 0;
        for (var j = 1; j <= cnt; j++)
        {
            var nb = ll[j];
            if ((uint)nb >= cap || visited.TestAndSet(nb)) continue;
            scorer.Prefetch(nb);
            fresh[nFresh++] = nb;
        }
        for (var j = 0; j < nFresh; j++)
        {
            var nb = fresh[j];
            var d = scorer.Distance(nb);
            if (top.Count < ef || d < lower)
            {
                cand.Push(d, nb);
                if (Allowed(s, nb, mode, filter, bitset))
                {
                    top.Push(d, nb);
                    if (top.Count > ef) top.Pop();
                }
                if (top.Count > 0) lower = top.TopDistance;
            }
        }
    }

    /// <summary>
    /// Runs the layered search with <paramref name="scorer"/> and copies the best <paramref name="take"/> allowed nodes
    /// (ascending distance) into the spans. Returns how many were written.
    /// </summary>
    internal int SearchNodes<TScorer>(HnswStorage s, SearchContext ctx, ref TScorer scorer, int ef, int take,
        SearchFilter? filter, FilterBitset? bitset, Span<int> nodes, Span<float> dists)
        where TScorer : struct, IScorer
    {
        var (ep, maxLevel) = Entry();
        if (ep < 0 || take <= 0) return 0;
        ef = Math.Max(ef, take);
        var cur = ep;
        var curDist = scorer.Distance(cur);
        for (var l = maxLevel; l > 0; l--) cur = Greedy(s, ref scorer, cur, ref curDist, l);
        var mode = filter is not null || bitset is not null ? FilterMode.Full
            : Volatile.Read(ref _deletedCount) > 0 ? FilterMode.Deleted : FilterMode.None;
        ctx.Visited.Reset(s.Capacity);
        SearchLayer(s, ctx, ref scorer, cur, curDist, 0, ef, mode, filter, bitset);
        var top = ctx.Results;
        while (top.Count > take) top.Pop();
        var n = top.Count;
        top.DrainAscending(dists[..n], nodes[..n]);
        return n;
    }

    // ---------------------------------------------------------------- public search

    /// <summary>Top-<paramref name="k"/> by similarity (best first). <paramref name="ef"/> 0 uses <see cref="HnswOptions.EfSearch"/>.</summary>
    public SearchHit[] Search(ReadOnlySpan<float> query, int k, int ef = 0, SearchFilter? filter = null, FilterBitset? bitset = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        if (k > 256)
        {
            // Large k: the hits are written into the array handed back (no second copy when the index holds k).
            var hits = new SearchHit[k];
            var found = Search(query, hits, ef, filter, bitset);
            return found == k ? hits : hits[..found];
        }

        Span<SearchHit> buffer = stackalloc SearchHit[k];
        var n = Search(query, buffer, ef, filter, bitset);
        return buffer[..n].ToArray();
    }

    /// <summary>Allocation-free search into <paramref name="destination"/> (its length is k); returns the number of hits.</summary>
    public int Search(ReadOnlySpan<float> query, Span<SearchHit> destination, int ef = 0, SearchFilter? filter = null, FilterBitset? bitset = null) =>
        Search(query, destination, [], ef, filter, bitset);

    /// <summary>
    /// As <see cref="Search(ReadOnlySpan{float}, Span{SearchHit}, int, SearchFilter?, FilterBitset?)"/>, and writes each hit's
    /// node number into <paramref name="nodes"/> when it is not empty (at least as long as <paramref name="destination"/>),
    /// for <see cref="Labels"/>.
    /// </summary>
    public int Search(ReadOnlySpan<float> query, Span<SearchHit> destination, Span<int> nodes, int ef = 0, SearchFilter? filter = null, FilterBitset? bitset = null) =>
        Search(query, destination, nodes, SearchPlan.Graph, ef, filter, bitset);

    /// <summary>
    /// As <see cref="Search(ReadOnlySpan{float}, Span{SearchHit}, Span{int}, int, SearchFilter?, FilterBitset?)"/> with the
    /// plan given: <see cref="SearchPlan.ExactScan"/> scores every live node (exact top-k, ties by ascending id; see
    /// <see cref="ExactScanOptions"/> for when it is the cheaper one), <see cref="SearchPlan.Graph"/> walks the graph.
    /// </summary>
    public int Search(ReadOnlySpan<float> query, Span<SearchHit> destination, Span<int> nodes, SearchPlan plan, int ef = 0, SearchFilter? filter = null, FilterBitset? bitset = null)
    {
        if (!nodes.IsEmpty && nodes.Length < destination.Length)
            throw new ArgumentException($"{nodes.Length} node slots for {destination.Length} hits.", nameof(nodes));
        if (query.Length != _dim) ThrowHelper.DimensionMismatch(_dim, query.Length);
        var k = destination.Length;
        if (k == 0) return 0;
        if (ef <= 0) ef = _options.EfSearch;
        var s = _storage;
        var ctx = _pool.Rent();
        try
        {
            ctx.EnsureQuery(_dim);
            var q = ctx.Query.AsSpan(0, _dim);
            query.CopyTo(q);
            if (_options.Metric == Metric.Cosine) VectorKernels.Normalize(q);
            ctx.EnsureSorted(Math.Max(ef, k));
            int n;
            fixed (float* qp = q)
            {
                // SAFETY: qp is pinned for the duration of the search; s keeps the pinned vector array alive.
                if (plan == SearchPlan.ExactScan)
                {
                    n = ScanNodes(s, ctx, qp, k, filter, bitset, ctx.SortedNode, ctx.SortedDist);
                }
                else
                {
                    var scorer = new FullScorer(s, qp);
                    n = SearchNodes(s, ctx, ref scorer, ef, k, filter, bitset, ctx.SortedNode, ctx.SortedDist);
                }
            }
            for (var i = 0; i < n; i++) destination[i] = new SearchHit(s.Ids[ctx.SortedNode[i]], -ctx.SortedDist[i]);
            if (!nodes.IsEmpty) ctx.SortedNode.AsSpan(0, n).CopyTo(nodes);
            return n;
        }
        finally
        {
            _pool.Return(ctx);
            GC.KeepAlive(s);
        }
    }

    /// <summary>Searches many queries (row-major) in parallel; one result array per query.</summary>
    public SearchHit[][] SearchBatch(ReadOnlyMemory<float> queries, int k, int ef = 0, SearchFilter? filter = null, int maxDegreeOfParallelism = -1)
    {
        if (queries.Length % _dim != 0) ThrowHelper.DimensionMismatch(_dim, queries.Length % _dim);
        var nq = queries.Length / _dim;
        var results = new SearchHit[nq][];
        Parallel.For(0, nq, new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism },
            i => results[i] = Search(queries.Span.Slice(i * _dim, _dim), k, ef, filter));
        return results;
    }

    /// <summary>A bitset over this index's internal nodes that allows exactly the given ids (present ones).</summary>
    public FilterBitset CreateBitset(IEnumerable<long> allowedIds)
    {
        ArgumentNullException.ThrowIfNull(allowedIds);
        var b = new FilterBitset(Math.Max(1, NodeCount));
        lock (_mapLock)
        {
            foreach (var id in allowedIds)
                if (_idMap.TryGetValue(id, out var node) && node < b.Capacity) b.Set(node);
        }
        return b;
    }

    /// <summary>Copies the stored (normalized, for cosine) vector of <paramref name="id"/>; false when absent.</summary>
    public bool TryGetVector(long id, Span<float> destination)
    {
        if (destination.Length != _dim) ThrowHelper.DimensionMismatch(_dim, destination.Length);
        int node;
        lock (_mapLock)
        {
            if (!_idMap.TryGetValue(id, out node)) return false;
        }
        var s = _storage;
        new ReadOnlySpan<float>(s.Vector(node), _dim).CopyTo(destination);
        GC.KeepAlive(s);
        return true;
    }

    /// <summary>Live ids (a copy).</summary>
    public long[] GetIds()
    {
        lock (_mapLock) return [.. _idMap.Keys];
    }

    /// <summary>Builds a fresh, compacted index from the live items (soft-deleted nodes are dropped).</summary>
    public HnswIndex Rebuild(int maxDegreeOfParallelism = 0)
    {
        long[] ids;
        float[] vecs;
        _resizeLock.EnterReadLock();
        try
        {
            var s = _storage;
            lock (_mapLock)
            {
                ids = new long[_idMap.Count];
                vecs = new float[(long)_idMap.Count * _dim];
                var i = 0;
                foreach (var (id, node) in _idMap)
                {
                    ids[i] = id;
                    new ReadOnlySpan<float>(s.Vector(node), _dim).CopyTo(vecs.AsSpan(i * _dim, _dim));
                    i++;
                }
            }
        }
        finally
        {
            _resizeLock.ExitReadLock();
        }
        var fresh = new HnswIndex(_options with { InitialCapacity = Math.Max(16, ids.Length) });
        fresh.AddBatch(ids, vecs, maxDegreeOfParallelism);
        return fresh;
    }

    internal HnswStorage Storage => _storage;

    internal int UsedNodes => _used;

    internal (int node, int level) EntryPoint => Entry();

    internal ContextPool Pool => _pool;

    internal void RestoreState(int used, int entry, int level, int deleted, Dictionary<long, int> map)
    {
        _used = used;
        _entry = Pack(entry, level);
        _deletedCount = deleted;
        _storage.MarkReadyUpTo(used);
        foreach (var kv in map) _idMap[kv.Key] = kv.Value;
    }
}

public sealed partial class HnswIndex
{
    /// <summary>Runs <paramref name="action"/> while no add, delete or resize is in progress (searches continue).</summary>
    internal void WithWritersPaused(Action action)
    {
        _resizeLock.EnterWriteLock();
        try
        {
            action();
        }
        finally
        {
            _resizeLock.ExitWriteLock();
        }
    }
}
