using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace RecSys.VectorSearch;

/// <summary>Scores internal nodes against one query; smaller distance is better. Implemented by structs so the JIT specializes the search loop.</summary>
internal interface IScorer
{
    float Distance(int node);

    void Prefetch(int node);
}

/// <summary>Exact scorer: distance = -(q . v) on full float vectors.</summary>
internal readonly unsafe struct FullScorer : IScorer
{
    /// <summary>
    /// Bytes of each neighbour vector prefetched before scoring: the whole vector up to 1 KiB (256 floats). Measured on
    /// 50k x 256: prefetching all 1024 bytes gave 16-24% more QPS than 512, and 512 beat 64 and 256.
    /// </summary>
    internal static int PrefetchBytes = 1024;

    private readonly byte* _block;
    private readonly long _nodeBytes;
    private readonly int _prefetchBytes;
    private readonly float* _query;
    private readonly int _dim;

    public FullScorer(HnswStorage s, float* query)
    {
        _block = s.Block;
        _nodeBytes = s.NodeBytes;
        _query = query;
        _dim = s.Dim;
        _prefetchBytes = Math.Min(s.Dim * sizeof(float), PrefetchBytes);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Distance(int node) =>
        // SAFETY: node < capacity of the storage that owns _block (callers only pass ids read from that storage's links).
        _dim == 16
            ? -VectorKernels.Dot16(ref Unsafe.AsRef<float>(_block + (node * _nodeBytes)), ref Unsafe.AsRef<float>(_query))
            : -VectorKernels.Dot(ref Unsafe.AsRef<float>(_block + (node * _nodeBytes)), ref Unsafe.AsRef<float>(_query), _dim);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(int node)
    {
        if (Sse.IsSupported)
        {
            // SAFETY: prefetch never faults, even on an invalid address.
            var p = _block + (node * _nodeBytes);
            var end = p + _prefetchBytes;
            for (; p < end; p += 64) Sse.Prefetch0(p);
        }
    }
}
