using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RecSys.VectorSearch;

/// <summary>
/// The arrays of one HNSW graph at one capacity. Each node's vector and its layer-0 link list share one 64-byte aligned
/// native block (<c>[vector floats][count, links...][pad]</c>), as in hnswlib: the vector load that scores a node also
/// brings its links into cache for when it is expanded. A grown index gets a new storage object; readers holding the
/// old one keep it alive (the block is freed by the finalizer) and see a self-consistent, older graph.
/// </summary>
internal sealed unsafe class HnswStorage
{
    public readonly int Capacity;
    public readonly int Dim;
    public readonly int Stride0;      // 1 + maxM0 ints per node: [count, links...]
    public readonly int StrideUpper;  // 1 + M ints per upper level
    public readonly int NodeBytes;    // bytes per node in Block, a multiple of 64
    public readonly int LinkOffset;   // byte offset of the link list inside a node
    public readonly byte* Block;
    private readonly long _blockBytes;
    public readonly int[]?[] Upper;
    public readonly byte[] Levels;
    public readonly long[] Ids;
    public readonly ulong[] Deleted;

    /// <summary>Nodes whose vector and id are written (the exact scan reads only those; the graph reaches a node only once linked).</summary>
    public readonly ulong[] Ready;
    public readonly int[] Locks;

    public HnswStorage(int capacity, int dim, int m)
    {
        Capacity = capacity;
        Dim = dim;
        Stride0 = 1 + (2 * m);
        StrideUpper = 1 + m;
        LinkOffset = dim * sizeof(float);
        NodeBytes = (LinkOffset + (Stride0 * sizeof(int)) + 63) & ~63;
        _blockBytes = (long)capacity * NodeBytes;
        // SAFETY: freed exactly once, by the finalizer, when no reader can reach this object any more.
        Block = (byte*)NativeMemory.AlignedAlloc((nuint)_blockBytes, 64);
        GC.AddMemoryPressure(_blockBytes);
        Upper = new int[]?[capacity];
        Levels = new byte[capacity];
        Ids = new long[capacity];
        Deleted = new ulong[(capacity + 63) >> 6];
        Ready = new ulong[(capacity + 63) >> 6];
        Locks = new int[capacity];
    }

    ~HnswStorage()
    {
        NativeMemory.AlignedFree(Block);
        GC.RemoveMemoryPressure(_blockBytes);
    }

    public HnswStorage GrowTo(int newCapacity, int used, int m)
    {
        var n = new HnswStorage(newCapacity, Dim, m);
        var bytes = (long)used * NodeBytes;
        // SAFETY: both blocks hold at least `used` nodes of NodeBytes each.
        Buffer.MemoryCopy(Block, n.Block, n._blockBytes, bytes);
        Array.Copy(Upper, n.Upper, used);
        Array.Copy(Levels, n.Levels, used);
        Array.Copy(Ids, n.Ids, used);
        Array.Copy(Deleted, n.Deleted, Deleted.Length);
        Array.Copy(Ready, n.Ready, Ready.Length);
        GC.KeepAlive(this);
        return n;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float* Vector(int node) => (float*)(Block + ((long)node * NodeBytes));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int* Links0(int node) => (int*)(Block + ((long)node * NodeBytes) + LinkOffset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsDeleted(int node) => (Volatile.Read(ref Deleted[node >> 6]) & (1UL << (node & 63))) != 0;

    public void MarkDeleted(int node) => Interlocked.Or(ref Deleted[node >> 6], 1UL << (node & 63));

    /// <summary>Publishes a written node to the exact scan (a full fence: its vector and id are visible before the bit).</summary>
    public void MarkReady(int node) => Interlocked.Or(ref Ready[node >> 6], 1UL << (node & 63));

    /// <summary>Marks nodes [0, count) ready (a loaded snapshot).</summary>
    public void MarkReadyUpTo(int count)
    {
        for (var i = 0; i < count >> 6; i++) Ready[i] = ulong.MaxValue;
        if ((count & 63) != 0) Ready[count >> 6] = (1UL << (count & 63)) - 1;
        Thread.MemoryBarrier();
    }

    /// <summary>Links of <paramref name="node"/> at <paramref name="level"/>: element 0 is the count.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Span<int> Links(int node, int level) =>
        level == 0
            // SAFETY: node < Capacity, so the stride-sized window is inside the node's block.
            ? new Span<int>(Links0(node), Stride0)
            : Upper[node].AsSpan((level - 1) * StrideUpper, StrideUpper);

    /// <summary>Copies node vectors [0, count) into a dense row-major array.</summary>
    public void CopyVectorsTo(Span<float> destination, int count)
    {
        for (var i = 0; i < count; i++) new ReadOnlySpan<float>(Vector(i), Dim).CopyTo(destination.Slice(i * Dim, Dim));
        GC.KeepAlive(this);
    }

    public void Lock(int node)
    {
        if (Interlocked.CompareExchange(ref Locks[node], 1, 0) == 0) return;
        var spin = new SpinWait();
        while (Interlocked.CompareExchange(ref Locks[node], 1, 0) != 0) spin.SpinOnce(sleep1Threshold: -1);
    }

    public void Unlock(int node) => Volatile.Write(ref Locks[node], 0);
}
