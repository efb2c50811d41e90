namespace RecSys.Trainer.Generation;

/// <summary>Walker/Vose alias table: O(n) to build, O(1) to draw an index with probability proportional to its weight.</summary>
internal sealed class AliasTable
{
    private readonly float[] _probability;
    private readonly int[] _alias;

    public AliasTable(ReadOnlySpan<double> weights)
    {
        var n = weights.Length;
        if (n == 0)
        {
            throw new ArgumentException("An alias table needs at least one weight.", nameof(weights));
        }

        _probability = new float[n];
        _alias = new int[n];
        var total = 0.0;
        foreach (var w in weights)
        {
            total += w;
        }

        var scaled = new double[n];
        var small = new int[n];
        var large = new int[n];
        int smallCount = 0, largeCount = 0;
        for (var i = 0; i < n; i++)
        {
            scaled[i] = total > 0 ? weights[i] * n / total : 1.0;
            if (scaled[i] < 1.0)
            {
                small[smallCount++] = i;
            }
            else
            {
                large[largeCount++] = i;
            }
        }

        while (smallCount > 0 && largeCount > 0)
        {
            var s = small[--smallCount];
            var l = large[--largeCount];
            _probability[s] = (float)scaled[s];
            _alias[s] = l;
            scaled[l] = scaled[l] + scaled[s] - 1.0;
            if (scaled[l] < 1.0)
            {
                small[smallCount++] = l;
            }
            else
            {
                large[largeCount++] = l;
            }
        }

        while (largeCount > 0)
        {
            var l = large[--largeCount];
            _probability[l] = 1f;
            _alias[l] = l;
        }

        while (smallCount > 0)
        {
            // Only reached through rounding error: such entries are full.
            var s = small[--smallCount];
            _probability[s] = 1f;
            _alias[s] = s;
        }
    }

    public int Count => _probability.Length;

    public int Sample(ref Rng rng)
    {
        var i = rng.NextInt(_probability.Length);
        return rng.NextDouble() < _probability[i] ? i : _alias[i];
    }
}
