using RecSys.Learning.Als;
using RecSys.Learning.Interactions;

namespace RecSys.Learning.Content;

/// <summary>
/// A rank-k truncated SVD of a sparse matrix A (n x m) by the randomized range finder of Halko, Martinsson and Tropp (2011):
/// Y = A Omega for a seeded Gaussian Omega (m x (k + p)), q power iterations Y = A (A^T Q) with re-orthonormalization,
/// then the small matrix B = Q^T A is decomposed through the eigenvectors of B B^T. Kept: the right singular vectors
/// V (m x k), so that <see cref="Transform"/> maps any row a (fitted or new) to a V, which for fitted rows equals U S.
/// Deterministic for a seed at any thread count.
/// </summary>
public sealed class RandomizedSvd
{
    private RandomizedSvd(int columns, int rank, float[] components, float[] singularValues)
    {
        Columns = columns;
        Rank = rank;
        Components = components;
        SingularValues = singularValues;
    }

    /// <summary>Columns m of the fitted matrix.</summary>
    public int Columns { get; }

    public int Rank { get; }

    /// <summary>V, m x <see cref="Rank"/>, row-major.</summary>
    public float[] Components { get; }

    /// <summary>Singular values, descending.</summary>
    public float[] SingularValues { get; }

    public static RandomizedSvd Fit(CsrMatrix a, int rank, ulong seed, int oversampling = 10, int powerIterations = 2)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentOutOfRangeException.ThrowIfLessThan(rank, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(oversampling);
        ArgumentOutOfRangeException.ThrowIfNegative(powerIterations);
        var n = a.RowCount;
        var m = a.ColumnCount;
        var l = Math.Min(rank + oversampling, Math.Min(n, m));
        if (l < 1)
        {
            throw new ArgumentException($"Cannot decompose a {n} x {m} matrix.", nameof(a));
        }

        rank = Math.Min(rank, l);
        var transpose = a.Transpose();
        var omega = Gaussian(m, l, seed);
        var q = DenseMath.SparseTimesDense(a, omega, l);
        DenseMath.Orthonormalize(q, n, l);
        for (var iteration = 0; iteration < powerIterations; iteration++)
        {
            var z = DenseMath.SparseTimesDense(transpose, q, l);
            DenseMath.Orthonormalize(z, m, l);
            q = DenseMath.SparseTimesDense(a, z, l);
            DenseMath.Orthonormalize(q, n, l);
        }

        // B^T = A^T Q (m x l); B B^T = (B^T)^T B^T.
        var bt = DenseMath.SparseTimesDense(transpose, q, l);
        var (values, vectors) = DenseMath.SymmetricEigen(DenseMath.Gram(bt, m, l), l);
        var singular = new float[rank];
        var inverse = new double[rank];
        for (var t = 0; t < rank; t++)
        {
            var s = Math.Sqrt(Math.Max(0, values[t]));
            singular[t] = (float)s;
            inverse[t] = s > 1e-12 ? 1 / s : 0;
        }

        // V = B^T U_b S^-1: column t is the t-th right singular vector (zero when the singular value vanishes).
        var components = new float[(long)m * rank];
        Parallel.For(0, m, r =>
        {
            var row = bt.AsSpan(r * l, l);
            for (var t = 0; t < rank; t++)
            {
                var sum = 0.0;
                for (var j = 0; j < l; j++)
                {
                    sum += row[j] * vectors[(j * l) + t];
                }

                components[((long)r * rank) + t] = (float)(sum * inverse[t]);
            }
        });
        return new RandomizedSvd(m, rank, components, singular);
    }

    /// <summary>Rows a V (n x <see cref="Rank"/>, row-major) of a matrix with the fitted column space.</summary>
    public float[] Transform(CsrMatrix rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.ColumnCount != Columns)
        {
            throw new ArgumentException($"Rows have {rows.ColumnCount} columns, the model {Columns}.", nameof(rows));
        }

        var k = Rank;
        var result = new float[(long)rows.RowCount * k];
        Parallel.For(0, rows.RowCount, r =>
        {
            var target = result.AsSpan(r * k, k);
            var columns = rows.RowColumns(r);
            var values = rows.RowValues(r);
            for (var e = 0; e < columns.Length; e++)
            {
                var v = values[e];
                var source = Components.AsSpan(columns[e] * k, k);
                for (var t = 0; t < k; t++)
                {
                    target[t] += v * source[t];
                }
            }
        });
        return result;
    }

    /// <summary>Standard normal m x l, entry (r, j) drawn from its own SplitMix stream (Box-Muller), independent of threads.</summary>
    private static double[] Gaussian(int m, int l, ulong seed)
    {
        var result = new double[(long)m * l];
        Parallel.For(0, m, r =>
        {
            var state = SplitMix.Mix(seed ^ SplitMix.Mix((ulong)r + 0x1234567));
            for (var j = 0; j < l; j++)
            {
                state += SplitMix.Gamma;
                var u1 = ((SplitMix.Mix(state) >> 11) + 1.0) / (1UL << 53);
                state += SplitMix.Gamma;
                var u2 = (SplitMix.Mix(state) >> 11) / (double)(1UL << 53);
                result[((long)r * l) + j] = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
            }
        });
        return result;
    }
}
