using System.Numerics;
using System.Runtime.InteropServices;
using RecSys.Learning.Interactions;

namespace RecSys.Learning.Content;

/// <summary>
/// The small dense linear algebra of the content models, in doubles: sparse-times-dense products, Gram matrices summed
/// over a fixed row partition (so results do not depend on the thread count), Cholesky and the cyclic Jacobi
/// eigen-solver for the small symmetric matrices of a randomized SVD and a ridge regression.
/// </summary>
internal static class DenseMath
{
    private const int GramChunks = 32;

    /// <summary>Y = A X with A sparse (n x m) and X dense row-major (m x l); Y is n x l row-major.</summary>
    public static double[] SparseTimesDense(CsrMatrix a, double[] x, int l)
    {
        if (x.Length != (long)a.ColumnCount * l)
        {
            throw new ArgumentException($"X must be {a.ColumnCount} x {l}.", nameof(x));
        }

        var y = new double[(long)a.RowCount * l];
        Parallel.For(0, a.RowCount, r =>
        {
            var row = y.AsSpan(r * l, l);
            var columns = a.RowColumns(r);
            var values = a.RowValues(r);
            for (var e = 0; e < columns.Length; e++)
            {
                Axpy(values[e], x.AsSpan(columns[e] * l, l), row);
            }
        });
        return y;
    }

    /// <summary>G = Y^T Y for Y row-major (n x l).</summary>
    public static double[] Gram(double[] y, int n, int l)
    {
        var partial = new double[GramChunks][];
        var chunk = (n + GramChunks - 1) / GramChunks;
        Parallel.For(0, GramChunks, c =>
        {
            var g = new double[l * l];
            for (var r = c * chunk; r < Math.Min(n, (c + 1) * chunk); r++)
            {
                var row = y.AsSpan(r * l, l);
                for (var i = 0; i < l; i++)
                {
                    var yi = row[i];
                    if (yi == 0)
                    {
                        continue;
                    }

                    Axpy(yi, row[i..], g.AsSpan((i * l) + i, l - i));
                }
            }

            partial[c] = g;
        });

        var sum = new double[l * l];
        foreach (var g in partial)
        {
            for (var k = 0; k < sum.Length; k++)
            {
                sum[k] += g[k];
            }
        }

        for (var i = 0; i < l; i++)
        {
            for (var j = 0; j < i; j++)
            {
                sum[(i * l) + j] = sum[(j * l) + i];
            }
        }

        return sum;
    }

    /// <summary>
    /// Makes the columns of Y (n x l, row-major) orthonormal in place by Cholesky QR done twice (CholQR2): G = Y^T Y = R^T R,
    /// Y := Y R^-1. A tiny shift on G's diagonal keeps a rank-deficient Y from breaking the factorization.
    /// </summary>
    public static void Orthonormalize(double[] y, int n, int l)
    {
        for (var pass = 0; pass < 2; pass++)
        {
            var g = Gram(y, n, l);
            var trace = 0.0;
            for (var i = 0; i < l; i++)
            {
                trace += g[(i * l) + i];
            }

            var shift = Math.Max(trace, 1e-300) * 1e-12;
            for (var i = 0; i < l; i++)
            {
                g[(i * l) + i] += shift;
            }

            CholeskyInPlace(g, l);
            var inverse = UpperInverseOfTransposed(g, l);
            Parallel.For(0, n, () => new double[l], (r, _, scratch) =>
            {
                // y_r := y_r R^-1 as a sum of rows of R^-1 (R = L^T is upper triangular, so row k starts at column k).
                var row = y.AsSpan(r * l, l);
                Array.Clear(scratch);
                for (var k = 0; k < l; k++)
                {
                    if (row[k] != 0)
                    {
                        Axpy(row[k], inverse.AsSpan((k * l) + k, l - k), scratch.AsSpan(k));
                    }
                }

                scratch.CopyTo(row);
                return scratch;
            }, _ => { });
        }
    }

    /// <summary>R^-1 for R = L^T (upper triangular), L in the lower triangle of <paramref name="factor"/>; row-major l x l.</summary>
    private static double[] UpperInverseOfTransposed(double[] factor, int l)
    {
        // Column j of R^-1 solves R x = e_j by back substitution; R[i, k] = L[k, i].
        var inverse = new double[l * l];
        for (var j = 0; j < l; j++)
        {
            for (var i = j; i >= 0; i--)
            {
                var s = i == j ? 1.0 : 0.0;
                for (var k = i + 1; k <= j; k++)
                {
                    s -= factor[(k * l) + i] * inverse[(k * l) + j];
                }

                inverse[(i * l) + j] = s / factor[(i * l) + i];
            }
        }

        return inverse;
    }

    /// <summary>y += a x, vectorized with <see cref="Vector{T}"/> (AVX-512, AVX2 or SSE, whichever the JIT picked).</summary>
    public static void Axpy(double a, ReadOnlySpan<double> x, Span<double> y)
    {
        if (x.Length != y.Length)
        {
            throw new ArgumentException($"x and y differ in length ({x.Length} vs {y.Length}).");
        }

        var i = 0;
        if (Vector.IsHardwareAccelerated && x.Length >= Vector<double>.Count)
        {
            var va = new Vector<double>(a);
            var xs = MemoryMarshal.Cast<double, Vector<double>>(x);
            var ys = MemoryMarshal.Cast<double, Vector<double>>(y);
            for (var v = 0; v < xs.Length; v++)
            {
                ys[v] += va * xs[v];
            }

            i = xs.Length * Vector<double>.Count;
        }

        for (; i < x.Length; i++)
        {
            y[i] += a * x[i];
        }
    }

    /// <summary>Lower Cholesky factor L (G = L L^T) written into the lower triangle of <paramref name="g"/>.</summary>
    public static void CholeskyInPlace(double[] g, int l)
    {
        for (var j = 0; j < l; j++)
        {
            var d = g[(j * l) + j];
            for (var k = 0; k < j; k++)
            {
                d -= g[(j * l) + k] * g[(j * l) + k];
            }

            if (!(d > 0))
            {
                throw new ArgumentException("The matrix is not positive definite.", nameof(g));
            }

            d = Math.Sqrt(d);
            g[(j * l) + j] = d;
            for (var i = j + 1; i < l; i++)
            {
                var s = g[(i * l) + j];
                for (var k = 0; k < j; k++)
                {
                    s -= g[(i * l) + k] * g[(j * l) + k];
                }

                g[(i * l) + j] = s / d;
            }
        }
    }

    /// <summary>Solves (L L^T) X = B for the d columns of B (l x d, row-major), in place; L from <see cref="CholeskyInPlace"/>.</summary>
    public static void CholeskySolve(double[] factor, int l, double[] b, int d)
    {
        for (var c = 0; c < d; c++)
        {
            for (var i = 0; i < l; i++)
            {
                var s = b[(i * d) + c];
                for (var k = 0; k < i; k++)
                {
                    s -= factor[(i * l) + k] * b[(k * d) + c];
                }

                b[(i * d) + c] = s / factor[(i * l) + i];
            }

            for (var i = l - 1; i >= 0; i--)
            {
                var s = b[(i * d) + c];
                for (var k = i + 1; k < l; k++)
                {
                    s -= factor[(k * l) + i] * b[(k * d) + c];
                }

                b[(i * d) + c] = s / factor[(i * l) + i];
            }
        }
    }

    /// <summary>
    /// Eigen-decomposition of a symmetric l x l matrix by cyclic Jacobi rotations: eigenvalues descending, eigenvectors as
    /// the columns of the returned row-major matrix.
    /// </summary>
    public static (double[] Values, double[] Vectors) SymmetricEigen(double[] matrix, int l)
    {
        var a = (double[])matrix.Clone();
        var v = new double[l * l];
        for (var i = 0; i < l; i++)
        {
            v[(i * l) + i] = 1;
        }

        for (var sweep = 0; sweep < 100; sweep++)
        {
            double off = 0, total = 0;
            for (var i = 0; i < l; i++)
            {
                for (var j = 0; j < l; j++)
                {
                    var x = a[(i * l) + j] * a[(i * l) + j];
                    total += x;
                    if (i != j)
                    {
                        off += x;
                    }
                }
            }

            if (off <= 1e-26 * Math.Max(total, 1e-300))
            {
                break;
            }

            for (var p = 0; p < l - 1; p++)
            {
                for (var q = p + 1; q < l; q++)
                {
                    var apq = a[(p * l) + q];
                    if (Math.Abs(apq) < 1e-300)
                    {
                        continue;
                    }

                    var theta = (a[(q * l) + q] - a[(p * l) + p]) / (2 * apq);
                    var t = Math.Sign(theta) / (Math.Abs(theta) + Math.Sqrt((theta * theta) + 1));
                    if (theta == 0)
                    {
                        t = 1;
                    }

                    var c = 1 / Math.Sqrt((t * t) + 1);
                    var s = t * c;
                    for (var k = 0; k < l; k++)
                    {
                        var akp = a[(k * l) + p];
                        var akq = a[(k * l) + q];
                        a[(k * l) + p] = (c * akp) - (s * akq);
                        a[(k * l) + q] = (s * akp) + (c * akq);
                    }

                    for (var k = 0; k < l; k++)
                    {
                        var apk = a[(p * l) + k];
                        var aqk = a[(q * l) + k];
                        a[(p * l) + k] = (c * apk) - (s * aqk);
                        a[(q * l) + k] = (s * apk) + (c * aqk);
                    }

                    for (var k = 0; k < l; k++)
                    {
                        var vkp = v[(k * l) + p];
                        var vkq = v[(k * l) + q];
                        v[(k * l) + p] = (c * vkp) - (s * vkq);
                        v[(k * l) + q] = (s * vkp) + (c * vkq);
                    }
                }
            }
        }

        var order = Enumerable.Range(0, l).OrderByDescending(i => a[(i * l) + i]).ThenBy(i => i).ToArray();
        var values = new double[l];
        var vectors = new double[l * l];
        for (var t = 0; t < l; t++)
        {
            values[t] = a[(order[t] * l) + order[t]];
            for (var k = 0; k < l; k++)
            {
                vectors[(k * l) + t] = v[(k * l) + order[t]];
            }
        }

        return (values, vectors);
    }
}
