using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RecSys.VectorSearch;

/// <summary>A (distance, node) pair; 8 bytes so a heap level is one contiguous run.</summary>
internal struct DistNode
{
    public float D;
    public int N;
}

/// <summary>
/// Binary heap of (distance, node) in a reusable array. <see cref="IsMax"/> picks max-heap (results: worst on top)
/// or min-heap (candidates: best on top); the comparison is written out per kind so the JIT sees no indirection.
/// </summary>
internal sealed class DistHeap
{
    private DistNode[] _a;

    public DistHeap(bool max, int capacity = 256)
    {
        IsMax = max;
        _a = new DistNode[capacity];
    }

    public bool IsMax { get; }

    public int Count;

    public float TopDistance
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _a[0].D;
    }

    public int TopNode
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _a[0].N;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Clear() => Count = 0;

    public void Push(float dist, int node)
    {
        if (Count == _a.Length) Array.Resize(ref _a, _a.Length * 2);
        ref var a0 = ref MemoryMarshal.GetArrayDataReference(_a);
        var i = Count++;
        if (IsMax)
        {
            while (i > 0)
            {
                var p = (i - 1) >> 1;
                ref var pe = ref Unsafe.Add(ref a0, p);
                if (dist <= pe.D) break;
                Unsafe.Add(ref a0, i) = pe;
                i = p;
            }
        }
        else
        {
            while (i > 0)
            {
                var p = (i - 1) >> 1;
                ref var pe = ref Unsafe.Add(ref a0, p);
                if (dist >= pe.D) break;
                Unsafe.Add(ref a0, i) = pe;
                i = p;
            }
        }
        ref var e = ref Unsafe.Add(ref a0, i);
        e.D = dist;
        e.N = node;
    }

    public void Pop()
    {
        var count = --Count;
        if (count == 0) return;
        ref var a0 = ref MemoryMarshal.GetArrayDataReference(_a);
        var last = Unsafe.Add(ref a0, count);
        var i = 0;
        if (IsMax)
        {
            while (true)
            {
                var c = (i << 1) + 1;
                if (c >= count) break;
                if (c + 1 < count && Unsafe.Add(ref a0, c + 1).D > Unsafe.Add(ref a0, c).D) c++;
                if (Unsafe.Add(ref a0, c).D <= last.D) break;
                Unsafe.Add(ref a0, i) = Unsafe.Add(ref a0, c);
                i = c;
            }
        }
        else
        {
            while (true)
            {
                var c = (i << 1) + 1;
                if (c >= count) break;
                if (c + 1 < count && Unsafe.Add(ref a0, c + 1).D < Unsafe.Add(ref a0, c).D) c++;
                if (Unsafe.Add(ref a0, c).D >= last.D) break;
                Unsafe.Add(ref a0, i) = Unsafe.Add(ref a0, c);
                i = c;
            }
        }
        Unsafe.Add(ref a0, i) = last;
    }

    /// <summary>Removes everything into (dist,node) spans, best (smallest distance) first. Only for a max-heap.</summary>
    public int DrainAscending(Span<float> dist, Span<int> node)
    {
        var c = Count;
        for (var i = c - 1; i >= 0; i--)
        {
            dist[i] = _a[0].D;
            node[i] = _a[0].N;
            Pop();
        }
        return c;
    }
}

/// <summary>
/// Visited marks by epoch (16-bit stamps, half the cache footprint of ints): a node is visited when its stamp equals the
/// current epoch; the array is cleared only when the epoch wraps.
/// </summary>
internal sealed unsafe class VisitedList
{
    private ushort[] _stamps = [];
    private ushort* _ptr;
    private ushort _epoch;

    public void Reset(int capacity)
    {
        if (_stamps.Length < capacity)
        {
            _stamps = GC.AllocateArray<ushort>(Math.Max(capacity, _stamps.Length * 2), pinned: true);
            // SAFETY: pinned (POH) array; the pointer stays valid while _stamps references it.
            _ptr = (ushort*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_stamps));
            _epoch = 0;
        }
        _epoch++;
        if (_epoch == 0)
        {
            Array.Clear(_stamps);
            _epoch = 1;
        }
    }

    /// <summary>Marks <paramref name="node"/>; returns true when it was already marked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TestAndSet(int node)
    {
        // SAFETY: callers pass node < the capacity given to Reset.
        var p = _ptr + node;
        if (*p == _epoch) return true;
        *p = _epoch;
        return false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(int node)
    {
        if (System.Runtime.Intrinsics.X86.Sse.IsSupported)
            // SAFETY: prefetch never faults.
            System.Runtime.Intrinsics.X86.Sse.Prefetch0(_ptr + node);
    }
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
    private ulong[] _scan = [];
    private float[] _scanDistances = [];
    private float[] _scanSamples = [];

    /// <summary>The exact scan's distance per node, at least <paramref name="n"/> long.</summary>
    public float[] EnsureScanDistances(int n)
    {
        if (_scanDistances.Length < n) _scanDistances = new float[Math.Max(n, _scanDistances.Length * 2)];
        return _scanDistances;
    }

    /// <summary>The exact scan's sample of distances, at least <paramref name="n"/> long.</summary>
    public float[] EnsureScanSamples(int n)
    {
        if (_scanSamples.Length < n) _scanSamples = new float[Math.Max(n, _scanSamples.Length * 2)];
        return _scanSamples;
    }

    /// <summary>The exact scan's candidate keys, at least <paramref name="n"/> long.</summary>
    public ulong[] EnsureScanBuffer(int n)
    {
        if (_scan.Length < n) _scan = new ulong[n];
        return _scan;
    }

    /// <summary>Grows the scan buffer to <paramref name="n"/>, keeping its first <paramref name="keep"/> keys.</summary>
    public ulong[] GrowScanBuffer(int n, int keep)
    {
        if (_scan.Length < n)
        {
            var grown = new ulong[n];
            _scan.AsSpan(0, keep).CopyTo(grown);
            _scan = grown;
        }

        return _scan;
    }

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
