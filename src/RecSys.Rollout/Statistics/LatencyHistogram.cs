namespace RecSys.Rollout.Statistics;

/// <summary>
/// Lock-free log-scale latency histogram: buckets grow by 2 % from 1 µs to about 1000 s, so a quantile is known to within
/// 2 % whatever the traffic, in a fixed 8 KiB.
/// </summary>
public sealed class LatencyHistogram
{
    private const double Growth = 1.02;
    private static readonly double LogGrowth = Math.Log(Growth);
    private static readonly int BucketCount = 2 + (int)Math.Ceiling(Math.Log(1e9) / Math.Log(Growth));

    private readonly long[] _counts = new long[BucketCount];
    private long _total;

    public long Count => Interlocked.Read(ref _total);

    public void Record(TimeSpan latency)
    {
        var micros = latency.Ticks / (double)TimeSpan.TicksPerMicrosecond;
        Interlocked.Increment(ref _counts[IndexOf(micros)]);
        Interlocked.Increment(ref _total);
    }

    /// <summary>The value (µs) at 1-based rank <paramref name="rank"/>: the bucket's lower edge, its middle or its upper edge.</summary>
    public double ValueAtRank(long rank, BucketEdge edge)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rank, 1);
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += Interlocked.Read(ref _counts[i]);
            if (seen >= rank)
            {
                return ValueOf(i, edge);
            }
        }

        return ValueOf(_counts.Length - 1, edge);
    }

    private static int IndexOf(double micros)
    {
        if (!(micros >= 1))
        {
            return 0; // Below 1 µs (and NaN, which TimeSpan cannot hold anyway).
        }

        var index = 1 + (int)(Math.Log(micros) / LogGrowth);
        return Math.Min(index, BucketCount - 1);
    }

    private static double ValueOf(int index, BucketEdge edge)
    {
        if (index == 0)
        {
            return edge == BucketEdge.Lower ? 0 : edge == BucketEdge.Middle ? 0.5 : 1;
        }

        // Bucket i ≥ 1 holds [g^(i-1), g^i).
        var lower = Math.Pow(Growth, index - 1);
        return edge switch
        {
            BucketEdge.Lower => lower,
            BucketEdge.Middle => lower * Math.Sqrt(Growth),
            _ => lower * Growth,
        };
    }
}

/// <summary>Which value of a histogram bucket to report.</summary>
public enum BucketEdge
{
    Lower,
    Middle,
    Upper,
}
