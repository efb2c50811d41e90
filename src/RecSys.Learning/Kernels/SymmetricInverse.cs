using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace RecSys.Learning.Kernels;

/// <summary>
/// In-place inverse of a symmetric positive-definite n x n matrix (row-major doubles) by the block sweep operator:
/// sweeping pivot block K replaces A_KK by -A_KK^-1, A_RK by A_RK A_KK^-1, A_KR by A_KK^-1 A_KR and A_RR by the Schur
/// complement A_RR - A_RK A_KK^-1 A_KR; after every block is swept the matrix holds -A^-1. The Schur update is a rank-b
/// GEMM-like step done in column tiles so the pivot rows stay in cache while all other rows stream past.
/// No pivoting: positive definiteness (e.g. a Gram matrix plus lambda I) keeps every pivot block invertible.
/// </summary>
internal static class SymmetricInverse
{
    private const int Block = 64;
    private const int ColumnTile = 512;

    public static void InvertInPlace(double[] a, int n, int maxDegreeOfParallelism = -1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        if (a.Length != (long)n * n)
        {
            throw new ArgumentException($"Expected {n} x {n} values (got {a.Length}).", nameof(a));
        }

        var options = new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism };
        var pivot = new double[Block * Block];
        var transformed = new double[(long)n * Block];
        var pivotRows = new double[(long)Block * n];
        for (var k0 = 0; k0 < n; k0 += Block)
        {
            var kb = Math.Min(Block, n - k0);

            // B = A_KK^-1 (small, scalar sweep gives -B; negate).
            for (var i = 0; i < kb; i++)
            {
                for (var j = 0; j < kb; j++)
                {
                    pivot[(i * kb) + j] = a[((long)(k0 + i) * n) + k0 + j];
                }
            }

            SweepSmall(pivot, kb);
            for (var i = 0; i < kb * kb; i++)
            {
                pivot[i] = -pivot[i];
            }

            // Copy the pivot rows A_K (read by every other row's update), then T = A_RK B for all rows.
            Array.Copy(a, (long)k0 * n, pivotRows, 0, (long)kb * n);
            Parallel.For(0, n, options, i =>
            {
                var row = (long)i * n;
                for (var j = 0; j < kb; j++)
                {
                    var s = 0.0;
                    for (var m = 0; m < kb; m++)
                    {
                        s += a[row + k0 + m] * pivot[(m * kb) + j];
                    }

                    transformed[((long)i * Block) + j] = s;
                }
            });

            // A_RR -= T A_KR, tiled by columns; then A_RK = T.
            var rowBlocks = (n + 63) / 64;
            Parallel.For(0, rowBlocks, options, rb =>
            {
                var start = rb * 64;
                var end = Math.Min(n, start + 64);
                for (var j0 = 0; j0 < n; j0 += ColumnTile)
                {
                    var width = Math.Min(ColumnTile, n - j0);
                    for (var i = start; i < end; i++)
                    {
                        if (i >= k0 && i < k0 + kb)
                        {
                            continue;
                        }

                        RankUpdate(a.AsSpan((int)(((long)i * n) + j0), width), transformed.AsSpan(i * Block, kb), pivotRows, n, j0, width);
                    }
                }

                for (var i = start; i < end; i++)
                {
                    if (i < k0 || i >= k0 + kb)
                    {
                        transformed.AsSpan(i * Block, kb).CopyTo(a.AsSpan((int)(((long)i * n) + k0), kb));
                    }
                }
            });

            // A_KR = B A_KR (columns outside K), A_KK = -B.
            Parallel.For(0, kb, options, i =>
            {
                var row = a.AsSpan((int)((long)(k0 + i) * n), n);
                row.Clear();
                for (var m = 0; m < kb; m++)
                {
                    Axpy(pivot[(i * kb) + m], pivotRows.AsSpan(m * n, n), row);
                }

                for (var j = 0; j < kb; j++)
                {
                    row[k0 + j] = -pivot[(i * kb) + j];
                }
            });
        }

        for (var i = 0; i < a.Length; i++)
        {
            a[i] = -a[i];
        }
    }

    /// <summary>target -= sum_m t[m] * pivotRows[m, j0 .. j0 + width), four vectors of target kept in registers.</summary>
    private static void RankUpdate(Span<double> target, ReadOnlySpan<double> t, double[] pivotRows, int n, int j0, int width)
    {
        ref var rt = ref MemoryMarshal.GetReference(target);
        ref var rp = ref MemoryMarshal.GetArrayDataReference(pivotRows);
        var j = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; j <= width - 16; j += 16)
            {
                var a0 = Vector256.LoadUnsafe(ref rt, (nuint)j);
                var a1 = Vector256.LoadUnsafe(ref rt, (nuint)(j + 4));
                var a2 = Vector256.LoadUnsafe(ref rt, (nuint)(j + 8));
                var a3 = Vector256.LoadUnsafe(ref rt, (nuint)(j + 12));
                for (var m = 0; m < t.Length; m++)
                {
                    var f = Vector256.Create(-t[m]);
                    var p = (nuint)(((long)m * n) + j0 + j);
                    a0 = Vector256.FusedMultiplyAdd(f, Vector256.LoadUnsafe(ref rp, p), a0);
                    a1 = Vector256.FusedMultiplyAdd(f, Vector256.LoadUnsafe(ref rp, p + 4), a1);
                    a2 = Vector256.FusedMultiplyAdd(f, Vector256.LoadUnsafe(ref rp, p + 8), a2);
                    a3 = Vector256.FusedMultiplyAdd(f, Vector256.LoadUnsafe(ref rp, p + 12), a3);
                }

                a0.StoreUnsafe(ref rt, (nuint)j);
                a1.StoreUnsafe(ref rt, (nuint)(j + 4));
                a2.StoreUnsafe(ref rt, (nuint)(j + 8));
                a3.StoreUnsafe(ref rt, (nuint)(j + 12));
            }
        }

        for (; j < width; j++)
        {
            var s = Unsafe.Add(ref rt, j);
            for (var m = 0; m < t.Length; m++)
            {
                s -= t[m] * pivotRows[((long)m * n) + j0 + j];
            }

            Unsafe.Add(ref rt, j) = s;
        }
    }

    private static void Axpy(double alpha, ReadOnlySpan<double> x, Span<double> y)
    {
        for (var i = 0; i < x.Length; i++)
        {
            y[i] += alpha * x[i];
        }
    }

    /// <summary>Scalar sweep of every pivot of a small k x k SPD matrix: leaves -A^-1.</summary>
    private static void SweepSmall(double[] m, int k)
    {
        for (var p = 0; p < k; p++)
        {
            var d = m[(p * k) + p];
            if (!(d > 0))
            {
                throw new ArgumentException("Matrix is not positive definite (non-positive pivot); raise the regularization.");
            }

            for (var i = 0; i < k; i++)
            {
                if (i == p)
                {
                    continue;
                }

                var aip = m[(i * k) + p];
                for (var j = 0; j < k; j++)
                {
                    if (j != p)
                    {
                        m[(i * k) + j] -= aip * m[(p * k) + j] / d;
                    }
                }
            }

            for (var i = 0; i < k; i++)
            {
                if (i != p)
                {
                    m[(i * k) + p] /= d;
                    m[(p * k) + i] /= d;
                }
            }

            m[(p * k) + p] = -1 / d;
        }
    }
}
