using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RecSys.Learning.Kernels;

/// <summary>
/// Dense float kernels of the learners: dot, axpy, symmetric matrix-vector product and the Gram (Y^T Y) accumulation.
/// Each has a 512-bit, a 256-bit and a scalar body; <see cref="KernelDispatch.Best"/> picks one per machine, and within
/// one machine every call is a fixed sequence of operations, so results are reproducible.
/// </summary>
internal static class VectorKernels
{
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => Dot(a, b, KernelDispatch.Best);

    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b, KernelWidth width)
    {
        if (a.Length != b.Length)
        {
            throw new ArgumentException($"Vectors differ in length ({a.Length} vs {b.Length}).", nameof(b));
        }

        ref var ra = ref MemoryMarshal.GetReference(a);
        ref var rb = ref MemoryMarshal.GetReference(b);
        var n = a.Length;
        var i = 0;
        var sum = 0f;
        if (width == KernelWidth.Vector512)
        {
            var acc0 = Vector512<float>.Zero;
            var acc1 = Vector512<float>.Zero;
            for (; i <= n - 32; i += 32)
            {
                acc0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref ra, (nuint)i), Vector512.LoadUnsafe(ref rb, (nuint)i), acc0);
                acc1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref ra, (nuint)(i + 16)), Vector512.LoadUnsafe(ref rb, (nuint)(i + 16)), acc1);
            }

            for (; i <= n - 16; i += 16)
            {
                acc0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref ra, (nuint)i), Vector512.LoadUnsafe(ref rb, (nuint)i), acc0);
            }

            sum = Vector512.Sum(acc0 + acc1);
        }
        else if (width == KernelWidth.Vector256)
        {
            var acc0 = Vector256<float>.Zero;
            var acc1 = Vector256<float>.Zero;
            for (; i <= n - 16; i += 16)
            {
                acc0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref ra, (nuint)i), Vector256.LoadUnsafe(ref rb, (nuint)i), acc0);
                acc1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref ra, (nuint)(i + 8)), Vector256.LoadUnsafe(ref rb, (nuint)(i + 8)), acc1);
            }

            for (; i <= n - 8; i += 8)
            {
                acc0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref ra, (nuint)i), Vector256.LoadUnsafe(ref rb, (nuint)i), acc0);
            }

            sum = Vector256.Sum(acc0 + acc1);
        }

        for (; i < n; i++)
        {
            sum = MathF.FusedMultiplyAdd(Unsafe.Add(ref ra, i), Unsafe.Add(ref rb, i), sum);
        }

        return sum;
    }

    /// <summary>y += alpha * x.</summary>
    public static void Axpy(float alpha, ReadOnlySpan<float> x, Span<float> y) => Axpy(alpha, x, y, KernelDispatch.Best);

    public static void Axpy(float alpha, ReadOnlySpan<float> x, Span<float> y, KernelWidth width)
    {
        if (x.Length != y.Length)
        {
            throw new ArgumentException($"Vectors differ in length ({x.Length} vs {y.Length}).", nameof(y));
        }

        ref var rx = ref MemoryMarshal.GetReference(x);
        ref var ry = ref MemoryMarshal.GetReference(y);
        var n = x.Length;
        var i = 0;
        if (width == KernelWidth.Vector512)
        {
            var a = Vector512.Create(alpha);
            for (; i <= n - 16; i += 16)
            {
                Vector512.FusedMultiplyAdd(a, Vector512.LoadUnsafe(ref rx, (nuint)i), Vector512.LoadUnsafe(ref ry, (nuint)i)).StoreUnsafe(ref ry, (nuint)i);
            }
        }
        else if (width == KernelWidth.Vector256)
        {
            var a = Vector256.Create(alpha);
            for (; i <= n - 8; i += 8)
            {
                Vector256.FusedMultiplyAdd(a, Vector256.LoadUnsafe(ref rx, (nuint)i), Vector256.LoadUnsafe(ref ry, (nuint)i)).StoreUnsafe(ref ry, (nuint)i);
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref ry, i) = MathF.FusedMultiplyAdd(alpha, Unsafe.Add(ref rx, i), Unsafe.Add(ref ry, i));
        }
    }

    /// <summary>
    /// y = G x for a d x d row-major matrix that is symmetric, computed as the sum of rows scaled by x (column form),
    /// keeping four vectors of y in registers while streaming G once.
    /// </summary>
    public static void SymmetricMatVec(ReadOnlySpan<float> g, ReadOnlySpan<float> x, Span<float> y) =>
        SymmetricMatVec(g, x, y, KernelDispatch.Best);

    public static void SymmetricMatVec(ReadOnlySpan<float> g, ReadOnlySpan<float> x, Span<float> y, KernelWidth width)
    {
        var d = x.Length;
        if (g.Length != d * d || y.Length != d)
        {
            throw new ArgumentException($"Expected a {d} x {d} matrix and an output of {d} (got {g.Length} and {y.Length}).");
        }

        ref var rg = ref MemoryMarshal.GetReference(g);
        ref var rx = ref MemoryMarshal.GetReference(x);
        ref var ry = ref MemoryMarshal.GetReference(y);
        var j = 0;
        if (width == KernelWidth.Vector512)
        {
            for (; j <= d - 64; j += 64)
            {
                var a0 = Vector512<float>.Zero;
                var a1 = Vector512<float>.Zero;
                var a2 = Vector512<float>.Zero;
                var a3 = Vector512<float>.Zero;
                for (var a = 0; a < d; a++)
                {
                    var b = Vector512.Create(Unsafe.Add(ref rx, a));
                    var row = (nuint)((a * d) + j);
                    a0 = Vector512.FusedMultiplyAdd(b, Vector512.LoadUnsafe(ref rg, row), a0);
                    a1 = Vector512.FusedMultiplyAdd(b, Vector512.LoadUnsafe(ref rg, row + 16), a1);
                    a2 = Vector512.FusedMultiplyAdd(b, Vector512.LoadUnsafe(ref rg, row + 32), a2);
                    a3 = Vector512.FusedMultiplyAdd(b, Vector512.LoadUnsafe(ref rg, row + 48), a3);
                }

                a0.StoreUnsafe(ref ry, (nuint)j);
                a1.StoreUnsafe(ref ry, (nuint)(j + 16));
                a2.StoreUnsafe(ref ry, (nuint)(j + 32));
                a3.StoreUnsafe(ref ry, (nuint)(j + 48));
            }

            for (; j <= d - 16; j += 16)
            {
                var a0 = Vector512<float>.Zero;
                for (var a = 0; a < d; a++)
                {
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref rx, a)), Vector512.LoadUnsafe(ref rg, (nuint)((a * d) + j)), a0);
                }

                a0.StoreUnsafe(ref ry, (nuint)j);
            }
        }
        else if (width == KernelWidth.Vector256)
        {
            for (; j <= d - 32; j += 32)
            {
                var a0 = Vector256<float>.Zero;
                var a1 = Vector256<float>.Zero;
                var a2 = Vector256<float>.Zero;
                var a3 = Vector256<float>.Zero;
                for (var a = 0; a < d; a++)
                {
                    var b = Vector256.Create(Unsafe.Add(ref rx, a));
                    var row = (nuint)((a * d) + j);
                    a0 = Vector256.FusedMultiplyAdd(b, Vector256.LoadUnsafe(ref rg, row), a0);
                    a1 = Vector256.FusedMultiplyAdd(b, Vector256.LoadUnsafe(ref rg, row + 8), a1);
                    a2 = Vector256.FusedMultiplyAdd(b, Vector256.LoadUnsafe(ref rg, row + 16), a2);
                    a3 = Vector256.FusedMultiplyAdd(b, Vector256.LoadUnsafe(ref rg, row + 24), a3);
                }

                a0.StoreUnsafe(ref ry, (nuint)j);
                a1.StoreUnsafe(ref ry, (nuint)(j + 8));
                a2.StoreUnsafe(ref ry, (nuint)(j + 16));
                a3.StoreUnsafe(ref ry, (nuint)(j + 24));
            }

            for (; j <= d - 8; j += 8)
            {
                var a0 = Vector256<float>.Zero;
                for (var a = 0; a < d; a++)
                {
                    a0 = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref rx, a)), Vector256.LoadUnsafe(ref rg, (nuint)((a * d) + j)), a0);
                }

                a0.StoreUnsafe(ref ry, (nuint)j);
            }
        }

        for (; j < d; j++)
        {
            var s = 0f;
            for (var a = 0; a < d; a++)
            {
                s = MathF.FusedMultiplyAdd(Unsafe.Add(ref rx, a), Unsafe.Add(ref rg, (a * d) + j), s);
            }

            Unsafe.Add(ref ry, j) = s;
        }
    }

    /// <summary>
    /// Adds Y_rows^T Y_rows to the upper triangle (j >= a, rounded down to a vector boundary) of the d x d accumulator
    /// <paramref name="gram"/>, for row-major <paramref name="rows"/> of width d. Eight rows at a time: each G vector is
    /// loaded and stored once per eight FMAs (the SYRK-style blocking); the caller mirrors the triangle at the end.
    /// </summary>
    public static void GramAccumulate(ReadOnlySpan<float> rows, int d, Span<float> gram) => GramAccumulate(rows, d, gram, KernelDispatch.Best);

    public static void GramAccumulate(ReadOnlySpan<float> rows, int d, Span<float> gram, KernelWidth width)
    {
        if (d <= 0 || rows.Length % d != 0 || gram.Length != d * d)
        {
            throw new ArgumentException($"Rows must be a multiple of d = {d} and the accumulator d x d.");
        }

        var n = rows.Length / d;
        ref var ry = ref MemoryMarshal.GetReference(rows);
        ref var rg = ref MemoryMarshal.GetReference(gram);
        var r = 0;
        if (width == KernelWidth.Vector512 && d >= 16)
        {
            for (; r <= n - 8; r += 8)
            {
                ref var y0 = ref Unsafe.Add(ref ry, r * d);
                for (var a = 0; a < d; a++)
                {
                    var b0 = Vector512.Create(Unsafe.Add(ref y0, a));
                    var b1 = Vector512.Create(Unsafe.Add(ref y0, d + a));
                    var b2 = Vector512.Create(Unsafe.Add(ref y0, (2 * d) + a));
                    var b3 = Vector512.Create(Unsafe.Add(ref y0, (3 * d) + a));
                    var b4 = Vector512.Create(Unsafe.Add(ref y0, (4 * d) + a));
                    var b5 = Vector512.Create(Unsafe.Add(ref y0, (5 * d) + a));
                    var b6 = Vector512.Create(Unsafe.Add(ref y0, (6 * d) + a));
                    var b7 = Vector512.Create(Unsafe.Add(ref y0, (7 * d) + a));
                    var j = a & ~15;
                    for (; j <= d - 16; j += 16)
                    {
                        var gi = (nuint)((a * d) + j);
                        var acc = Vector512.LoadUnsafe(ref rg, gi);
                        acc = Vector512.FusedMultiplyAdd(b0, Vector512.LoadUnsafe(ref y0, (nuint)j), acc);
                        acc = Vector512.FusedMultiplyAdd(b1, Vector512.LoadUnsafe(ref y0, (nuint)(d + j)), acc);
                        acc = Vector512.FusedMultiplyAdd(b2, Vector512.LoadUnsafe(ref y0, (nuint)((2 * d) + j)), acc);
                        acc = Vector512.FusedMultiplyAdd(b3, Vector512.LoadUnsafe(ref y0, (nuint)((3 * d) + j)), acc);
                        acc = Vector512.FusedMultiplyAdd(b4, Vector512.LoadUnsafe(ref y0, (nuint)((4 * d) + j)), acc);
                        acc = Vector512.FusedMultiplyAdd(b5, Vector512.LoadUnsafe(ref y0, (nuint)((5 * d) + j)), acc);
                        acc = Vector512.FusedMultiplyAdd(b6, Vector512.LoadUnsafe(ref y0, (nuint)((6 * d) + j)), acc);
                        acc = Vector512.FusedMultiplyAdd(b7, Vector512.LoadUnsafe(ref y0, (nuint)((7 * d) + j)), acc);
                        acc.StoreUnsafe(ref rg, gi);
                    }

                    for (; j < d; j++)
                    {
                        ref var g = ref Unsafe.Add(ref rg, (a * d) + j);
                        for (var k = 0; k < 8; k++)
                        {
                            g = MathF.FusedMultiplyAdd(Unsafe.Add(ref y0, (k * d) + a), Unsafe.Add(ref y0, (k * d) + j), g);
                        }
                    }
                }
            }
        }
        else if (width == KernelWidth.Vector256 && d >= 8)
        {
            for (; r <= n - 8; r += 8)
            {
                ref var y0 = ref Unsafe.Add(ref ry, r * d);
                for (var a = 0; a < d; a++)
                {
                    var b0 = Vector256.Create(Unsafe.Add(ref y0, a));
                    var b1 = Vector256.Create(Unsafe.Add(ref y0, d + a));
                    var b2 = Vector256.Create(Unsafe.Add(ref y0, (2 * d) + a));
                    var b3 = Vector256.Create(Unsafe.Add(ref y0, (3 * d) + a));
                    var b4 = Vector256.Create(Unsafe.Add(ref y0, (4 * d) + a));
                    var b5 = Vector256.Create(Unsafe.Add(ref y0, (5 * d) + a));
                    var b6 = Vector256.Create(Unsafe.Add(ref y0, (6 * d) + a));
                    var b7 = Vector256.Create(Unsafe.Add(ref y0, (7 * d) + a));
                    var j = a & ~7;
                    for (; j <= d - 8; j += 8)
                    {
                        var gi = (nuint)((a * d) + j);
                        var acc = Vector256.LoadUnsafe(ref rg, gi);
                        acc = Vector256.FusedMultiplyAdd(b0, Vector256.LoadUnsafe(ref y0, (nuint)j), acc);
                        acc = Vector256.FusedMultiplyAdd(b1, Vector256.LoadUnsafe(ref y0, (nuint)(d + j)), acc);
                        acc = Vector256.FusedMultiplyAdd(b2, Vector256.LoadUnsafe(ref y0, (nuint)((2 * d) + j)), acc);
                        acc = Vector256.FusedMultiplyAdd(b3, Vector256.LoadUnsafe(ref y0, (nuint)((3 * d) + j)), acc);
                        acc = Vector256.FusedMultiplyAdd(b4, Vector256.LoadUnsafe(ref y0, (nuint)((4 * d) + j)), acc);
                        acc = Vector256.FusedMultiplyAdd(b5, Vector256.LoadUnsafe(ref y0, (nuint)((5 * d) + j)), acc);
                        acc = Vector256.FusedMultiplyAdd(b6, Vector256.LoadUnsafe(ref y0, (nuint)((6 * d) + j)), acc);
                        acc = Vector256.FusedMultiplyAdd(b7, Vector256.LoadUnsafe(ref y0, (nuint)((7 * d) + j)), acc);
                        acc.StoreUnsafe(ref rg, gi);
                    }

                    for (; j < d; j++)
                    {
                        ref var g = ref Unsafe.Add(ref rg, (a * d) + j);
                        for (var k = 0; k < 8; k++)
                        {
                            g = MathF.FusedMultiplyAdd(Unsafe.Add(ref y0, (k * d) + a), Unsafe.Add(ref y0, (k * d) + j), g);
                        }
                    }
                }
            }
        }

        // Remaining rows (and the scalar path): one row at a time over the full upper triangle.
        for (; r < n; r++)
        {
            ref var y0 = ref Unsafe.Add(ref ry, r * d);
            for (var a = 0; a < d; a++)
            {
                var ya = Unsafe.Add(ref y0, a);
                for (var j = a; j < d; j++)
                {
                    ref var g = ref Unsafe.Add(ref rg, (a * d) + j);
                    g = MathF.FusedMultiplyAdd(ya, Unsafe.Add(ref y0, j), g);
                }
            }
        }
    }

    /// <summary>Rows of the other side fetched ahead of use: far enough to hide a DRAM miss behind ~8 rows of work.</summary>
    private const int PrefetchDistance = 8;

    /// <summary>
    /// The sparse half of the implicit-ALS operator for one row, as <see cref="SparseProjection"/> computes it, in two passes:
    /// first every coefficient (the dots, independent of each other, so their reductions overlap), then acc += sum_k coef_k y_k
    /// with acc held in registers across all nonzeros. The one-pass form serializes each dot's reduction before its axpy and
    /// reloads and stores acc once per nonzero; here acc touches memory once per row. <paramref name="coefficients"/> is
    /// scratch of at least the row's length.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void SparseProjectionTwoPass(ReadOnlySpan<int> columns, ReadOnlySpan<float> strengths, float alpha, float[] other,
        ReadOnlySpan<float> v, Span<float> acc, bool residual, KernelWidth width, Span<float> coefficients)
    {
        var d = v.Length;
        var n = columns.Length;
        if (acc.Length != d || strengths.Length != n || coefficients.Length < n)
        {
            throw new ArgumentException($"A row of {n} nonzeros at d={d} needs {n} strengths, {n} coefficients of scratch and {d} accumulators.");
        }

        var lines = ((d * sizeof(float)) + 63) / 64;
        fixed (float* basePointer = other)
        {
            for (var k = 0; k < n; k++)
            {
                if (Sse.IsSupported && k + PrefetchDistance < n)
                {
                    // SAFETY: as in SparseProjection: the address starts inside `other`, and a prefetch never faults or writes.
                    var ahead = (byte*)(basePointer + ((long)columns[k + PrefetchDistance] * d));
                    for (var line = 0; line < lines; line++)
                    {
                        Sse.Prefetch0(ahead + (line * 64));
                    }
                }

                var c = 1f + (alpha * strengths[k]);
                var s = Dot(new ReadOnlySpan<float>(other, columns[k] * d, d), v, width);
                coefficients[k] = residual ? c - ((c - 1f) * s) : (c - 1f) * s;
            }
        }

        AccumulateRows(columns, coefficients[..n], other, acc, width);
    }

    /// <summary>
    /// acc += sum_k w_k other[columns_k]: per block of four vectors, two sets of accumulators (even and odd k) stay in
    /// registers over all rows, so the FMA latency chain is half the row count and acc is read and written once per block.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AccumulateRows(ReadOnlySpan<int> columns, ReadOnlySpan<float> weights, float[] other, Span<float> acc, KernelWidth width)
    {
        // SAFETY (unchecked loads below): the caller's first pass sliced a bounds-checked span of `other` at every column,
        // so each row columns_k * d .. + d lies inside the array.
        var d = acc.Length;
        var n = columns.Length;
        ref var ro = ref MemoryMarshal.GetArrayDataReference(other);
        ref var racc = ref MemoryMarshal.GetReference(acc);
        var b = 0;
        if (width == KernelWidth.Vector512)
        {
            for (; b <= d - 64; b += 64)
            {
                var a0 = Vector512.LoadUnsafe(ref racc, (nuint)b);
                var a1 = Vector512.LoadUnsafe(ref racc, (nuint)(b + 16));
                var a2 = Vector512.LoadUnsafe(ref racc, (nuint)(b + 32));
                var a3 = Vector512.LoadUnsafe(ref racc, (nuint)(b + 48));
                var e0 = Vector512<float>.Zero;
                var e1 = Vector512<float>.Zero;
                var e2 = Vector512<float>.Zero;
                var e3 = Vector512<float>.Zero;
                var k = 0;
                for (; k <= n - 2; k += 2)
                {
                    var w = Vector512.Create(weights[k]);
                    var y = (nuint)(((long)columns[k] * d) + b);
                    a0 = Vector512.FusedMultiplyAdd(w, Vector512.LoadUnsafe(ref ro, y), a0);
                    a1 = Vector512.FusedMultiplyAdd(w, Vector512.LoadUnsafe(ref ro, y + 16), a1);
                    a2 = Vector512.FusedMultiplyAdd(w, Vector512.LoadUnsafe(ref ro, y + 32), a2);
                    a3 = Vector512.FusedMultiplyAdd(w, Vector512.LoadUnsafe(ref ro, y + 48), a3);
                    var u = Vector512.Create(weights[k + 1]);
                    var z = (nuint)(((long)columns[k + 1] * d) + b);
                    e0 = Vector512.FusedMultiplyAdd(u, Vector512.LoadUnsafe(ref ro, z), e0);
                    e1 = Vector512.FusedMultiplyAdd(u, Vector512.LoadUnsafe(ref ro, z + 16), e1);
                    e2 = Vector512.FusedMultiplyAdd(u, Vector512.LoadUnsafe(ref ro, z + 32), e2);
                    e3 = Vector512.FusedMultiplyAdd(u, Vector512.LoadUnsafe(ref ro, z + 48), e3);
                }

                if (k < n)
                {
                    var w = Vector512.Create(weights[k]);
                    var y = (nuint)(((long)columns[k] * d) + b);
                    a0 = Vector512.FusedMultiplyAdd(w, Vector512.LoadUnsafe(ref ro, y), a0);
                    a1 = Vector512.FusedMultiplyAdd(w, Vector512.LoadUnsafe(ref ro, y + 16), a1);
                    a2 = Vector512.FusedMultiplyAdd(w, Vector512.LoadUnsafe(ref ro, y + 32), a2);
                    a3 = Vector512.FusedMultiplyAdd(w, Vector512.LoadUnsafe(ref ro, y + 48), a3);
                }

                (a0 + e0).StoreUnsafe(ref racc, (nuint)b);
                (a1 + e1).StoreUnsafe(ref racc, (nuint)(b + 16));
                (a2 + e2).StoreUnsafe(ref racc, (nuint)(b + 32));
                (a3 + e3).StoreUnsafe(ref racc, (nuint)(b + 48));
            }

            for (; b <= d - 16; b += 16)
            {
                var a0 = Vector512.LoadUnsafe(ref racc, (nuint)b);
                for (var k = 0; k < n; k++)
                {
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Create(weights[k]), Vector512.LoadUnsafe(ref ro, (nuint)(((long)columns[k] * d) + b)), a0);
                }

                a0.StoreUnsafe(ref racc, (nuint)b);
            }
        }
        else if (width == KernelWidth.Vector256)
        {
            for (; b <= d - 32; b += 32)
            {
                var a0 = Vector256.LoadUnsafe(ref racc, (nuint)b);
                var a1 = Vector256.LoadUnsafe(ref racc, (nuint)(b + 8));
                var a2 = Vector256.LoadUnsafe(ref racc, (nuint)(b + 16));
                var a3 = Vector256.LoadUnsafe(ref racc, (nuint)(b + 24));
                var e0 = Vector256<float>.Zero;
                var e1 = Vector256<float>.Zero;
                var e2 = Vector256<float>.Zero;
                var e3 = Vector256<float>.Zero;
                var k = 0;
                for (; k <= n - 2; k += 2)
                {
                    var w = Vector256.Create(weights[k]);
                    var y = (nuint)(((long)columns[k] * d) + b);
                    a0 = Vector256.FusedMultiplyAdd(w, Vector256.LoadUnsafe(ref ro, y), a0);
                    a1 = Vector256.FusedMultiplyAdd(w, Vector256.LoadUnsafe(ref ro, y + 8), a1);
                    a2 = Vector256.FusedMultiplyAdd(w, Vector256.LoadUnsafe(ref ro, y + 16), a2);
                    a3 = Vector256.FusedMultiplyAdd(w, Vector256.LoadUnsafe(ref ro, y + 24), a3);
                    var u = Vector256.Create(weights[k + 1]);
                    var z = (nuint)(((long)columns[k + 1] * d) + b);
                    e0 = Vector256.FusedMultiplyAdd(u, Vector256.LoadUnsafe(ref ro, z), e0);
                    e1 = Vector256.FusedMultiplyAdd(u, Vector256.LoadUnsafe(ref ro, z + 8), e1);
                    e2 = Vector256.FusedMultiplyAdd(u, Vector256.LoadUnsafe(ref ro, z + 16), e2);
                    e3 = Vector256.FusedMultiplyAdd(u, Vector256.LoadUnsafe(ref ro, z + 24), e3);
                }

                if (k < n)
                {
                    var w = Vector256.Create(weights[k]);
                    var y = (nuint)(((long)columns[k] * d) + b);
                    a0 = Vector256.FusedMultiplyAdd(w, Vector256.LoadUnsafe(ref ro, y), a0);
                    a1 = Vector256.FusedMultiplyAdd(w, Vector256.LoadUnsafe(ref ro, y + 8), a1);
                    a2 = Vector256.FusedMultiplyAdd(w, Vector256.LoadUnsafe(ref ro, y + 16), a2);
                    a3 = Vector256.FusedMultiplyAdd(w, Vector256.LoadUnsafe(ref ro, y + 24), a3);
                }

                (a0 + e0).StoreUnsafe(ref racc, (nuint)b);
                (a1 + e1).StoreUnsafe(ref racc, (nuint)(b + 8));
                (a2 + e2).StoreUnsafe(ref racc, (nuint)(b + 16));
                (a3 + e3).StoreUnsafe(ref racc, (nuint)(b + 24));
            }

            for (; b <= d - 8; b += 8)
            {
                var a0 = Vector256.LoadUnsafe(ref racc, (nuint)b);
                for (var k = 0; k < n; k++)
                {
                    a0 = Vector256.FusedMultiplyAdd(Vector256.Create(weights[k]), Vector256.LoadUnsafe(ref ro, (nuint)(((long)columns[k] * d) + b)), a0);
                }

                a0.StoreUnsafe(ref racc, (nuint)b);
            }
        }

        for (; b < d; b++)
        {
            var a = Unsafe.Add(ref racc, b);
            for (var k = 0; k < n; k++)
            {
                a = MathF.FusedMultiplyAdd(weights[k], Unsafe.Add(ref ro, (nint)(((long)columns[k] * d) + b)), a);
            }

            Unsafe.Add(ref racc, b) = a;
        }
    }

    /// <summary>
    /// The sparse half of the implicit-ALS operator for one row, acc += sum_k coef_k y_k over the row's nonzeros with
    /// c_k = 1 + alpha * strength_k and s_k = y_k . v: coef_k = (c_k - 1) s_k for the matrix-vector product, or
    /// c_k - (c_k - 1) s_k for the initial residual (b - A x). Rows y_k are gathered from <paramref name="other"/>;
    /// the row PrefetchDistance ahead is prefetched, since at scale the other side does not fit in cache.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void SparseProjection(ReadOnlySpan<int> columns, ReadOnlySpan<float> strengths, float alpha, float[] other,
        ReadOnlySpan<float> v, Span<float> acc, bool residual, KernelWidth width)
    {
        var d = v.Length;
        var lines = ((d * sizeof(float)) + 63) / 64;
        fixed (float* basePointer = other)
        {
            for (var k = 0; k < columns.Length; k++)
            {
                if (Sse.IsSupported && k + PrefetchDistance < columns.Length)
                {
                    // SAFETY: the address is inside `other` (a column index < row count of the other side, times d, plus
                    // whole cache lines of that row; the final line may end past the row but starts inside the array),
                    // and prefetch never faults or writes.
                    var ahead = (byte*)(basePointer + ((long)columns[k + PrefetchDistance] * d));
                    for (var line = 0; line < lines; line++)
                    {
                        Sse.Prefetch0(ahead + (line * 64));
                    }
                }

                var y = new ReadOnlySpan<float>(other, columns[k] * d, d);
                var c = 1f + (alpha * strengths[k]);
                var s = Dot(y, v, width);
                Axpy(residual ? c - ((c - 1f) * s) : (c - 1f) * s, y, acc, width);
            }
        }
    }
}
