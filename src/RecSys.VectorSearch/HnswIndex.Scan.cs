using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RecSys.VectorSearch;

public sealed unsafe partial class HnswIndex
{
    /// <summary>Nodes scored per step of the scan: one AVX-512 comparison (two AVX2 ones) against the k-th best.</summary>
    private const int ScanBlock = 16;

    /// <summary>
    /// Exact top-<paramref name="take"/> by a scan of every node's full-precision vector, in two passes. The first scores
    /// every node in node order into a distance array (the vectors sit at a fixed stride in the node block, so the scan
    /// streams them, prefetching two blocks ahead; at d = 16 sixteen nodes are scored at once, see
    /// <see cref="Distances16"/>) and sets aside every sixteenth distance as a sample. A quantile of the sample, a few
    /// standard deviations past k/N, gives a threshold that about 1.5 k nodes pass; the second pass compares the array
    /// with it sixteen at a time (one AVX-512 or two AVX2 comparisons) and checks only those that pass against the filter.
    /// Should fewer than k pass (a filter that removes many, or bad luck), the threshold is widened and the second pass
    /// repeated, up to no threshold at all. The best k of what passed are selected and sorted. Distances are the graph
    /// walk's own (<see cref="FullScorer"/>), bit for bit, so an item has one score whatever the plan. Writes ascending
    /// distance, equal distances by ascending id (also at the k-th place); returns how many were written.
    /// </summary>
    internal int ScanNodes(HnswStorage s, SearchContext ctx, float* query, int take, SearchFilter? filter, FilterBitset? bitset,
        Span<int> nodes, Span<float> dists)
    {
        if (take <= 0) return 0;
        var used = Math.Min(Volatile.Read(ref _used), s.Capacity);
        if (used == 0) return 0;
        var all = ctx.EnsureScanDistances(used);
        var samples = ctx.EnsureScanSamples((used / ScanBlock) + 1);
        var sampleCount = 0;
        var scorer = new FullScorer(s, query);
        var node = 0;
        fixed (float* d0 = all)
        {
            // SAFETY: d0 is pinned for the pass; every write is below used <= all.Length.
            for (; node + ScanBlock <= used; node += ScanBlock)
            {
                var ahead = node + (2 * ScanBlock);
                if (ahead + ScanBlock <= used)
                    for (var j = 0; j < ScanBlock; j++) scorer.Prefetch(ahead + j);
                if (_dim == 16) Distances16(s, query, node, d0 + node);
                else
                    for (var j = 0; j < ScanBlock; j++) d0[node + j] = scorer.Distance(node + j);

                // Ready and not deleted: a node reserved by a concurrent insert is skipped until its vector and id are written.
                var word = Volatile.Read(ref s.Ready[node >> 6]) & ~Volatile.Read(ref s.Deleted[node >> 6]);
                var dead = ~(uint)(word >> (node & 63)) & 0xFFFF;
                while (dead != 0)
                {
                    d0[node + System.Numerics.BitOperations.TrailingZeroCount(dead)] = float.NaN;
                    dead &= dead - 1;
                }

                if (!float.IsNaN(d0[node])) samples[sampleCount++] = d0[node];
            }

            for (; node < used; node++)
            {
                var live = (Volatile.Read(ref s.Ready[node >> 6]) & (1UL << (node & 63))) != 0 && !s.IsDeleted(node);
                d0[node] = live ? scorer.Distance(node) : float.NaN;
            }
        }

        // Samples at or below the k-th best distance: about take / 16; the threshold sits sigmas past that.
        var expected = take * (double)sampleCount / used;
        var rank = (int)Math.Ceiling(expected + (3 * Math.Sqrt(expected)) + 4);
        var filtered = filter is not null || bitset is not null;
        var buffer = ctx.EnsureScanBuffer(Math.Max(take * 2, take + 256));
        int count;
        while (true)
        {
            var threshold = float.PositiveInfinity;
            if (rank < sampleCount)
            {
                var sample = samples.AsSpan(0, sampleCount);
                Select(sample, rank);
                threshold = sample[rank];
            }

            count = 0;
            node = 0;
            fixed (float* d0 = all)
            {
                // SAFETY: d0 is pinned; reads are below used.
                for (; node + ScanBlock <= used; node += ScanBlock)
                {
                    var pass = AtMost(d0 + node, threshold);
                    while (pass != 0)
                    {
                        var n = node + System.Numerics.BitOperations.TrailingZeroCount(pass);
                        pass &= pass - 1;
                        if (filtered && !Allowed(s, n, FilterMode.Full, filter, bitset)) continue;
                        if (count == buffer.Length) buffer = ctx.GrowScanBuffer(buffer.Length * 2, count);
                        buffer[count++] = Key(d0[n], n);
                    }
                }

                for (; node < used; node++)
                {
                    if (!(d0[node] <= threshold) || (filtered && !Allowed(s, node, FilterMode.Full, filter, bitset))) continue;
                    if (count == buffer.Length) buffer = ctx.GrowScanBuffer(buffer.Length * 2, count);
                    buffer[count++] = Key(d0[node], node);
                }
            }

            if (count >= take || rank >= sampleCount) break;
            rank = rank < sampleCount / 4 ? rank * 4 : sampleCount;
        }

        if (count > take) count = Shrink(buffer, count, take);
        var best = buffer.AsSpan(0, count);
        best.Sort();
        OrderTiesById(s, best);
        var written = Math.Min(count, take);
        for (var i = 0; i < written; i++)
        {
            var nd = (int)(uint)best[i];
            nodes[i] = nd;
            // From the array rather than the key: the key folds -0 into +0, the distance keeps its bits.
            dists[i] = all[nd];
        }

        return written;
    }

    /// <summary>
    /// Distances of the 16 nodes from <paramref name="first"/> at d = 16, bit for bit what <see cref="VectorKernels.Dot16"/>
    /// gives each (negated), sixteen at a time: the products are those of Dot16 (a fused multiply-add into zero, plus
    /// zero), and the lane sums are done across nodes with the same pairs in the same order as the active kernel's lane sum
    /// (AVX-512: within each 128-bit quarter (l0 + l1) + (l2 + l3), then (q0 + q1) + (q2 + q3); AVX2: the two halves'
    /// products added lane by lane, then the same within quarters, then q0 + q1). Shuffles bring matching lanes of four
    /// nodes together so that each add serves four or sixteen nodes instead of one. Tested against Dot16 on both paths.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Distances16(HnswStorage s, float* query, int first, float* output)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            var q = Vector512.Load(query);
            var z = Vector512<float>.Zero;
            // Per group of four nodes: lane sums within 128-bit quarters, four nodes' quarter sums in one vector.
            var g0 = Quads512(s, q, z, first);
            var g1 = Quads512(s, q, z, first + 4);
            var g2 = Quads512(s, q, z, first + 8);
            var g3 = Quads512(s, q, z, first + 12);
            // g holds, in quarter k, q_k of its four nodes. (q0 + q1) and (q2 + q3) side by side, then their sum.
            var h01 = Avx512F.Shuffle4x128(g0, g1, 0b10_00_10_00) + Avx512F.Shuffle4x128(g0, g1, 0b11_01_11_01);
            var h23 = Avx512F.Shuffle4x128(g2, g3, 0b10_00_10_00) + Avx512F.Shuffle4x128(g2, g3, 0b11_01_11_01);
            var sum = Avx512F.Shuffle4x128(h01, h23, 0b10_00_10_00) + Avx512F.Shuffle4x128(h01, h23, 0b11_01_11_01);
            (-sum).Store(output);
            return;
        }

        if (Vector256.IsHardwareAccelerated)
        {
            var qlo = Vector256.Load(query);
            var qhi = Vector256.Load(query + 8);
            var z = Vector256<float>.Zero;
            var g0 = Quads256(s, qlo, qhi, z, first);
            var g1 = Quads256(s, qlo, qhi, z, first + 4);
            var g2 = Quads256(s, qlo, qhi, z, first + 8);
            var g3 = Quads256(s, qlo, qhi, z, first + 12);
            // g holds, in half k, q_k of its four nodes: q0 + q1 for eight nodes at once.
            var lo = Avx.Permute2x128(g0, g1, 0x20) + Avx.Permute2x128(g0, g1, 0x31);
            var hi = Avx.Permute2x128(g2, g3, 0x20) + Avx.Permute2x128(g2, g3, 0x31);
            (-lo).Store(output);
            (-hi).Store(output + 8);
            return;
        }

        for (var j = 0; j < ScanBlock; j++)
            output[j] = -VectorKernels.Dot16(ref Unsafe.AsRef<float>(s.Vector(first + j)), ref Unsafe.AsRef<float>(query));
    }

    /// <summary>Four nodes' products, summed in pairs then pairs of pairs within each 128-bit quarter: [n0, n1, n2, n3] per quarter.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Quads512(HnswStorage s, Vector512<float> q, Vector512<float> z, int first)
    {
        var a = Vector512.FusedMultiplyAdd(Vector512.Load(s.Vector(first)), q, z) + z;
        var b = Vector512.FusedMultiplyAdd(Vector512.Load(s.Vector(first + 1)), q, z) + z;
        var c = Vector512.FusedMultiplyAdd(Vector512.Load(s.Vector(first + 2)), q, z) + z;
        var d = Vector512.FusedMultiplyAdd(Vector512.Load(s.Vector(first + 3)), q, z) + z;
        // Per quarter: [a0 + a1, a2 + a3, b0 + b1, b2 + b3].
        var ab = Avx512F.Shuffle(a, b, 0b10_00_10_00) + Avx512F.Shuffle(a, b, 0b11_01_11_01);
        var cd = Avx512F.Shuffle(c, d, 0b10_00_10_00) + Avx512F.Shuffle(c, d, 0b11_01_11_01);
        // Per quarter: [(a0 + a1) + (a2 + a3), b.., c.., d..].
        return Avx512F.Shuffle(ab, cd, 0b10_00_10_00) + Avx512F.Shuffle(ab, cd, 0b11_01_11_01);
    }

    /// <summary>As <see cref="Quads512"/> for AVX2: the two halves' products added lane by lane first, as Dot16 does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Quads256(HnswStorage s, Vector256<float> qlo, Vector256<float> qhi, Vector256<float> z, int first)
    {
        var a = Half256(s.Vector(first), qlo, qhi, z);
        var b = Half256(s.Vector(first + 1), qlo, qhi, z);
        var c = Half256(s.Vector(first + 2), qlo, qhi, z);
        var d = Half256(s.Vector(first + 3), qlo, qhi, z);
        var ab = Avx.Shuffle(a, b, 0b10_00_10_00) + Avx.Shuffle(a, b, 0b11_01_11_01);
        var cd = Avx.Shuffle(c, d, 0b10_00_10_00) + Avx.Shuffle(c, d, 0b11_01_11_01);
        return Avx.Shuffle(ab, cd, 0b10_00_10_00) + Avx.Shuffle(ab, cd, 0b11_01_11_01);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Half256(float* v, Vector256<float> qlo, Vector256<float> qhi, Vector256<float> z) =>
        Vector256.FusedMultiplyAdd(Vector256.Load(v), qlo, z) + Vector256.FusedMultiplyAdd(Vector256.Load(v + 8), qhi, z);

    /// <summary>Sortable key of a distance and a node: ascending keys are ascending distances (-0 as +0), then nodes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Key(float d, int node) => ((ulong)ToSortable(d) << 32) | (uint)node;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint ToSortable(float d)
    {
        var bits = BitConverter.SingleToUInt32Bits(d == 0 ? 0f : d);
        return (bits & 0x8000_0000) != 0 ? ~bits : bits | 0x8000_0000;
    }

    /// <summary>Bit j set when <c>d[j] &lt;= threshold</c> (NaN never passes), for the 16 distances at <paramref name="d"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint AtMost(float* d, float threshold)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            return (uint)Vector512.LessThanOrEqual(Vector512.Load(d), Vector512.Create(threshold)).ExtractMostSignificantBits();
        }

        if (Vector256.IsHardwareAccelerated)
        {
            var t = Vector256.Create(threshold);
            var lo = Vector256.LessThanOrEqual(Vector256.Load(d), t).ExtractMostSignificantBits();
            var hi = Vector256.LessThanOrEqual(Vector256.Load(d + 8), t).ExtractMostSignificantBits();
            return lo | (hi << 8);
        }

        var bits = 0u;
        for (var j = 0; j < ScanBlock; j++)
            if (d[j] <= threshold) bits |= 1u << j;
        return bits;
    }

    /// <summary>
    /// Keeps the best <paramref name="keep"/> of the first <paramref name="count"/> keys at the front, the keep-th best at
    /// keep - 1, followed by every other key of the same distance (which one of them is in the top k is decided by id at
    /// the end). Returns how many are kept.
    /// </summary>
    private static int Shrink(ulong[] buffer, int count, int keep)
    {
        var span = buffer.AsSpan(0, count);
        Select(span, keep - 1);
        var kth = span[keep - 1] >> 32;
        var kept = keep;
        for (var i = keep; i < count; i++)
            if (span[i] >> 32 == kth) span[kept++] = span[i];
        return kept;
    }

    /// <summary>Sorted keys: each run of equal distances reordered by ascending id (rare: duplicate vectors).</summary>
    private static void OrderTiesById(HnswStorage s, Span<ulong> sorted)
    {
        var i = 0;
        while (i < sorted.Length)
        {
            var j = i + 1;
            var d = sorted[i] >> 32;
            while (j < sorted.Length && sorted[j] >> 32 == d) j++;
            if (j - i > 1)
            {
                var run = sorted[i..j];
                for (var a = 1; a < run.Length; a++)
                {
                    var x = run[a];
                    var idx = s.Ids[(int)(uint)x];
                    var b = a - 1;
                    while (b >= 0 && s.Ids[(int)(uint)run[b]] > idx)
                    {
                        run[b + 1] = run[b];
                        b--;
                    }

                    run[b + 1] = x;
                }
            }

            i = j;
        }
    }

    /// <summary>
    /// Quickselect (Hoare partition, median of three): element <paramref name="nth"/> ends where a full sort would put it.
    /// Floats must hold no NaN.
    /// </summary>
    internal static void Select<T>(Span<T> a, int nth)
        where T : struct, IComparisonOperators<T, T, bool>
    {
        var lo = 0;
        var hi = a.Length - 1;
        while (hi > lo)
        {
            if (hi - lo < 16)
            {
                a[lo..(hi + 1)].Sort();
                return;
            }

            var mid = lo + ((hi - lo) >> 1);
            if (a[mid] < a[lo]) (a[mid], a[lo]) = (a[lo], a[mid]);
            if (a[hi] < a[lo]) (a[hi], a[lo]) = (a[lo], a[hi]);
            if (a[hi] < a[mid]) (a[hi], a[mid]) = (a[mid], a[hi]);
            var pivot = a[mid];
            var i = lo;
            var j = hi;
            while (i <= j)
            {
                while (a[i] < pivot) i++;
                while (pivot < a[j]) j--;
                if (i <= j)
                {
                    (a[i], a[j]) = (a[j], a[i]);
                    i++;
                    j--;
                }
            }

            if (nth <= j) hi = j;
            else if (nth >= i) lo = i;
            else return;
        }
    }
}
