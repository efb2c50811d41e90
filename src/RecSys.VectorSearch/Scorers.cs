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
    private readonly float* _vectors;
    private readonly float* _query;
    private readonly int _dim;

    public FullScorer(float* vectors, float* query, int dim)
    {
        _vectors = vectors;
        _query = query;
        _dim = dim;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Distance(int node) =>
        // SAFETY: node < capacity of the storage that owns _vectors (callers only pass ids read from that storage's links).
        -VectorKernels.Dot(ref Unsafe.AsRef<float>(_vectors + ((long)node * _dim)), ref Unsafe.AsRef<float>(_query), _dim);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(int node)
    {
        if (Sse.IsSupported)
        {
            // SAFETY: prefetch never faults, even on an invalid address.
            var p = (byte*)(_vectors + ((long)node * _dim));
            Sse.Prefetch0(p);
            Sse.Prefetch0(p + 64);
        }
    }
}
