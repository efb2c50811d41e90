using System.Runtime.CompilerServices;

namespace RecSys.VectorSearch;

/// <summary>A binary heap of (distance, node) pairs in a reusable array; max-heap or min-heap by distance.</summary>
internal sealed class DistHeap
{
    private float[] _d;
    private int[] _n;
    private readonly bool _max;

    public DistHeap(bool max, int capacity = 256)
    {
        _max = max;
        _d = new float[capacity];
        _n = new int[capacity];
    }

    public int Count { get; private set; }

    public float TopDistance => _d[0];

    public int TopNode => _n[0];

    public void Clear() => Count = 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Above(float a, float b) => _max ? a > b : a < b;

    public void Push(float dist, int node)
    {
        if (Count == _d.Length)
        {
            Array.Resize(ref _d, _d.Length * 2);
            Array.Resize(ref _n, _n.Length * 2);
        }
        var i = Count++;
        var d = _d;
        var n = _n;
        while (i > 0)
        {
            var p = (i - 1) >> 1;
            if (!Above(dist, d[p])) break;
            d[i] = d[p];
            n[i] = n[p];
            i = p;
        }
        d[i] = dist;
        n[i] = node;
    }

    public void Pop()
    {
        var count = --Count;
        if (count == 0) return;
        var d = _d;
        var n = _n;
        var ld = d[count];
        var ln = n[count];
        var i = 0;
        while (true)
        {
            var c = (i << 1) + 1;
            if (c >= count) break;
            if (c + 1 < count && Above(d[c + 1], d[c])) c++;
            if (!Above(d[c], ld)) break;
            d[i] = d[c];
            n[i] = n[c];
            i = c;
        }
        d[i] = ld;
        n[i] = ln;
    }

    /// <summary>Removes everything into (dist,node) arrays, best (smallest distance) first. Only for a max-heap.</summary>
    public int DrainAscending(Span<float> dist, Span<int> node)
    {
        var c = Count;
        for (var i = c - 1; i >= 0; i--)
        {
            dist[i] = _d[0];
            node[i] = _n[0];
            Pop();
        }
        return c;
    }
}

/// <summary>Visited marks by epoch: a node is visited when its stamp equals the current epoch; no clearing per query.</summary>
internal sealed class VisitedList
{
    private int[] _stamps = [];
    private int _epoch;

    public void Reset(int capacity)
    {
        if (_stamps.Length < capacity)
        {
            _stamps = new int[Math.Max(capacity, _stamps.Length * 2)];
            _epoch = 0;
        }
        _epoch++;
        if (_epoch == int.MaxValue)
        {
            Array.Clear(_stamps);
            _epoch = 1;
        }
    }

    /// <summary>Marks <paramref name="node"/>; returns true when it was already marked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TestAndSet(int node)
    {
        ref var s = ref _stamps[node];
        if (s == _epoch) return true;
        s = _epoch;
        return false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsSet(int node) => _stamps[node] == _epoch;
}

/// <summary>Everything one search or insertion needs, pooled so a query allocates only its result array.</summary>
internal sealed class SearchContext
{
    public readonly DistHeap Candidates = new(max: false);
    public readonly DistHeap Results = new(max: true);
    public readonly VisitedList Visited = new();
    public float[] Query = [];
    public float[] SortedDist = new float[256];
    public int[] SortedNode = new int[256];
    public int[] Selected = new int[64];

    public void EnsureQuery(int dim)
    {
        if (Query.Length < dim) Query = new float[dim];
    }

    public void EnsureSorted(int n)
    {
        if (SortedDist.Length < n)
        {
            SortedDist = new float[n * 2];
            SortedNode = new int[n * 2];
        }
    }
}

/// <summary>A small lock-protected pool; contention is negligible against the cost of a search.</summary>
internal sealed class ContextPool
{
    private readonly SearchContext?[] _items = new SearchContext?[Math.Max(4, Environment.ProcessorCount * 2)];
    private readonly Lock _lock = new();
    private int _count;

    public SearchContext Rent()
    {
        lock (_lock)
        {
            if (_count > 0)
            {
                var c = _items[--_count]!;
                _items[_count] = null;
                return c;
            }
        }
        return new SearchContext();
    }

    public void Return(SearchContext ctx)
    {
        lock (_lock)
        {
            if (_count < _items.Length) _items[_count++] = ctx;
        }
    }
}
