using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RecSys.VectorSearch;

/// <summary>
/// The arrays of one HNSW graph at one capacity. Vectors and layer-0 links live in pinned (POH) arrays so that
/// hot loops use raw pointers without bounds checks; a grown index gets a new storage object, and readers
/// that still hold the old one keep it alive and see a self-consistent (older) graph.
/// </summary>
internal sealed unsafe class HnswStorage
{
    public readonly int Capacity;
    public readonly int Dim;
    public readonly int Stride0;      // 1 + maxM0 ints per node: [count, links...]
    public readonly int StrideUpper;  // 1 + M ints per upper level
    public readonly float[] Vectors;
    public readonly float* VectorsPtr;
    public readonly int[] Links0;
    public readonly int* Links0Ptr;
    public readonly int[]?[] Upper;
    public readonly byte[] Levels;
    public readonly long[] Ids;
    public readonly ulong[] Deleted;
    public readonly int[] Locks;

    public HnswStorage(int capacity, int dim, int m)
    {
        Capacity = capacity;
        Dim = dim;
        Stride0 = 1 + (2 * m);
        StrideUpper = 1 + m;
        Vectors = GC.AllocateUninitializedArray<float>(checked(capacity * dim), pinned: true);
        Links0 = GC.AllocateArray<int>(checked(capacity * Stride0), pinned: true);
        // SAFETY: both arrays live on the pinned object heap, so their addresses never change while this object is reachable.
        VectorsPtr = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(Vectors));
        Links0Ptr = (int*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(Links0));
        Upper = new int[]?[capacity];
        Levels = new byte[capacity];
        Ids = new long[capacity];
        Deleted = new ulong[(capacity + 63) >> 6];
        Locks = new int[capacity];
    }

    public HnswStorage GrowTo(int newCapacity, int used, int m)
    {
        var n = new HnswStorage(newCapacity, Dim, m);
        Array.Copy(Vectors, n.Vectors, (long)used * Dim);
        Array.Copy(Links0, n.Links0, (long)used * Stride0);
        Array.Copy(Upper, n.Upper, used);
        Array.Copy(Levels, n.Levels, used);
        Array.Copy(Ids, n.Ids, used);
        Array.Copy(Deleted, n.Deleted, Deleted.Length);
        return n;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float* Vector(int node) => VectorsPtr + ((long)node * Dim);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsDeleted(int node) => (Volatile.Read(ref Deleted[node >> 6]) & (1UL << (node & 63))) != 0;

    public void MarkDeleted(int node) => Interlocked.Or(ref Deleted[node >> 6], 1UL << (node & 63));

    /// <summary>Links of <paramref name="node"/> at <paramref name="level"/>: element 0 is the count.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Span<int> Links(int node, int level) =>
        level == 0
            // SAFETY: node < Capacity, so the stride-sized window is inside Links0.
            ? new Span<int>(Links0Ptr + ((long)node * Stride0), Stride0)
            : Upper[node].AsSpan((level - 1) * StrideUpper, StrideUpper);

    public void Lock(int node)
    {
        if (Interlocked.CompareExchange(ref Locks[node], 1, 0) == 0) return;
        var spin = new SpinWait();
        while (Interlocked.CompareExchange(ref Locks[node], 1, 0) != 0) spin.SpinOnce(sleep1Threshold: -1);
    }

    public void Unlock(int node) => Volatile.Write(ref Locks[node], 0);
}
