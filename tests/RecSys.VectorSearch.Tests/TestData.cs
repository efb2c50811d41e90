namespace RecSys.VectorSearch.Tests;

/// <summary>Deterministic synthetic vectors and exact ground truth.</summary>
internal static class TestData
{
    public static float[] Gaussian(int n, int dim, int seed)
    {
        var rng = new Random(seed);
        var v = new float[n * dim];
        for (var i = 0; i < v.Length; i++) v[i] = (float)Normal(rng);
        return v;
    }

    /// <summary>Clustered vectors (low-rank signal plus noise) shaped like learned embeddings.</summary>
    public static float[] Embeddings(int n, int dim, int seed, int rank = 16)
    {
        var rng = new Random(seed);
        var basis = new float[rank * dim];
        for (var i = 0; i < basis.Length; i++) basis[i] = (float)Normal(rng);
        var v = new float[n * dim];
        var coef = new float[rank];
        for (var i = 0; i < n; i++)
        {
            for (var r = 0; r < rank; r++) coef[r] = (float)Normal(rng);
            var row = v.AsSpan(i * dim, dim);
            for (var d = 0; d < dim; d++)
            {
                var s = 0f;
                for (var r = 0; r < rank; r++) s += coef[r] * basis[(r * dim) + d];
                row[d] = (s / MathF.Sqrt(rank)) + (0.5f * (float)Normal(rng));
            }
            VectorKernels.Normalize(row);
        }
        return v;
    }

    public static double Normal(Random rng)
    {
        var u1 = 1.0 - rng.NextDouble();
        var u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    public static long[] ExactTopK(float[] data, int dim, ReadOnlySpan<float> query, int k, Func<long, bool>? allow = null)
    {
        var n = data.Length / dim;
        var scores = new List<(float s, long id)>(n);
        for (var i = 0; i < n; i++)
        {
            if (allow is not null && !allow(i)) continue;
            scores.Add((VectorKernels.Dot(data.AsSpan(i * dim, dim), query, KernelKind.Scalar), i));
        }
        scores.Sort((a, b) => b.s.CompareTo(a.s));
        return [.. scores.Take(k).Select(x => x.id)];
    }

    public static double Recall(long[] truth, SearchHit[] got)
    {
        var set = new HashSet<long>(truth);
        return truth.Length == 0 ? 1.0 : got.Count(h => set.Contains(h.Id)) / (double)truth.Length;
    }

    public static HnswIndex Build(float[] data, int dim, Metric metric = Metric.InnerProduct, int m = 16, int efc = 100)
    {
        var n = data.Length / dim;
        var index = new HnswIndex(new HnswOptions { Dimension = dim, Metric = metric, M = m, EfConstruction = efc, InitialCapacity = n });
        var ids = new long[n];
        for (var i = 0; i < n; i++) ids[i] = i;
        index.AddBatch(ids, data);
        return index;
    }
}
