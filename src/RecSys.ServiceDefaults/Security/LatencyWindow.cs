namespace RecSys.ServiceDefaults.Security;

/// <summary>What one window of request latencies came to, in <see cref="TimeProvider"/> timestamp ticks.</summary>
public readonly record struct LatencyWindowSummary(int Count, long P99, long Sum);

/// <summary>
/// The latencies of the requests completed in one window, for controllers that act on the window's p99 (the adaptive
/// concurrency limit, Ranking's candidate budget). Bounded: samples beyond the capacity are dropped. Not thread-safe: the
/// owner holds its lock around every call.
/// </summary>
public sealed class LatencyWindow(int capacity = 8_192)
{
    private readonly long[] _samples = new long[capacity];
    private int _count;
    private long _sum;

    /// <summary>Samples in the window so far.</summary>
    public int Count => _count;

    /// <summary>Adds one request's latency (timestamp ticks); ignored once the window is full.</summary>
    public void Add(long latencyTicks)
    {
        if (_count < _samples.Length)
        {
            _samples[_count++] = latencyTicks;
            _sum += latencyTicks;
        }
    }

    /// <summary>The window's count, p99 (0 when empty) and sum; then starts the next window empty.</summary>
    public LatencyWindowSummary Close()
    {
        var samples = _samples.AsSpan(0, _count);
        samples.Sort();
        var p99 = samples.IsEmpty ? 0 : samples[Math.Min(samples.Length - 1, (int)Math.Ceiling(samples.Length * 0.99) - 1)];
        var summary = new LatencyWindowSummary(_count, p99, _sum);
        _count = 0;
        _sum = 0;
        return summary;
    }
}
