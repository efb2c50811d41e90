namespace RecSys.Learning.Bench;

/// <summary>
/// A random problem with the shape of real logs for timing ALS: user activity log-normal, item popularity a power law
/// (item = n * u^2.5 before a fixed shuffle of ids), strengths 1..5. Generated in parallel chunks, each from its own seed.
/// </summary>
internal static class SyntheticProblem
{
    public static (int[] Users, int[] Items, float[] Strengths) Generate(int userCount, int itemCount, long nnz, int seed)
    {
        var n = (int)nnz;
        var users = new int[n];
        var items = new int[n];
        var strengths = new float[n];
        var shuffle = Enumerable.Range(0, itemCount).ToArray();
        new Random(seed).Shuffle(shuffle);

        // Activity weights, then cumulative shares to cut the triple array into per-user runs.
        var rng = new Random(seed + 1);
        var weights = new double[userCount];
        for (var u = 0; u < userCount; u++)
        {
            var g = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
            weights[u] = Math.Exp(g);
        }

        var total = weights.Sum();
        var start = new int[userCount + 1];
        var acc = 0.0;
        for (var u = 0; u < userCount; u++)
        {
            acc += weights[u];
            start[u + 1] = (int)Math.Min(n, Math.Round(acc / total * n));
        }

        start[userCount] = n;
        const int Chunk = 1 << 16;
        Parallel.For(0, (userCount + Chunk - 1) / Chunk, c =>
        {
            var local = new Random(seed + 100 + c);
            for (var u = c * Chunk; u < Math.Min(userCount, (c + 1) * Chunk); u++)
            {
                for (var e = start[u]; e < start[u + 1]; e++)
                {
                    users[e] = u;
                    items[e] = shuffle[Math.Min(itemCount - 1, (int)(itemCount * Math.Pow(local.NextDouble(), 2.5)))];
                    strengths[e] = 1 + local.Next(5);
                }
            }
        });

        return (users, items, strengths);
    }
}
