namespace RecSys.Batching;

/// <summary>A change of limits decided at the end of an adaptation window.</summary>
internal readonly record struct LimitsChange(BatchingLimits Previous, BatchingLimits Current, TimeSpan P99);

/// <summary>
/// Moves the maximum batch size and wait toward a target p99: both shrink (x0.8 by default) when a window's p99 is above the
/// target and grow (x1.2) when it is below 0.7 x the target, clamped to the adaptive bounds. A window lasts at least the
/// adaptation interval and needs a minimum number of completed requests.
/// </summary>
internal sealed class AdaptiveLimits
{
    private const int SampleCapacity = 4096;

    private readonly DynamicBatchingOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly Lock _gate = new();
    private readonly long[] _samples = new long[SampleCapacity];
    private readonly long[] _sortScratch = new long[SampleCapacity];
    private double _maxRows;
    private double _maxWaitTicks;
    private BatchingLimits _current;
    private long _windowStart;
    private int _sampleCount;
    private int _sampleCursor;
    private bool _sawFullBatch;

    public AdaptiveLimits(DynamicBatchingOptions options, TimeProvider timeProvider)
    {
        _options = options;
        _timeProvider = timeProvider;
        _maxRows = options.MaxBatchRows;
        _maxWaitTicks = options.MaxWait.Ticks;
        _current = new BatchingLimits(options.MaxBatchRows, options.MaxWait);
        _windowStart = timeProvider.GetTimestamp();
    }

    public BatchingLimits Current => Volatile.Read(ref _current);

    /// <summary>
    /// Records the latencies (TimeSpan ticks) of the requests a batch completed; returns the change when the window closed
    /// and the limits moved.
    /// </summary>
    public LimitsChange? Observe(ReadOnlySpan<long> latencyTicks, bool batchWasFull)
    {
        if (!_options.AdaptationEnabled)
        {
            return null;
        }

        lock (_gate)
        {
            foreach (var latency in latencyTicks)
            {
                // Past capacity the window keeps its latest samples.
                _samples[_sampleCursor] = latency;
                _sampleCursor = (_sampleCursor + 1) % SampleCapacity;
                _sampleCount = Math.Min(_sampleCount + 1, SampleCapacity);
            }

            _sawFullBatch |= batchWasFull;
            var now = _timeProvider.GetTimestamp();
            if (_timeProvider.GetElapsedTime(_windowStart, now) < _options.AdaptationInterval || _sampleCount < _options.AdaptationMinSamples)
            {
                return null;
            }

            var p99 = TimeSpan.FromTicks(P99());
            var sawFull = _sawFullBatch;
            _windowStart = now;
            _sampleCount = 0;
            _sampleCursor = 0;
            _sawFullBatch = false;

            double factor;
            if (p99 > _options.TargetP99)
            {
                factor = _options.ShrinkFactor;
            }
            else if (p99 < _options.TargetP99 * _options.GrowBelow && (sawFull || !_options.GrowOnlyWhenBatchesFill))
            {
                factor = _options.GrowFactor;
            }
            else
            {
                return null;
            }

            _maxRows = Math.Clamp(_maxRows * factor, _options.MinAdaptiveBatchRows, _options.MaxAdaptiveBatchRows);
            _maxWaitTicks = Math.Clamp(_maxWaitTicks * factor, _options.MinAdaptiveWait.Ticks, _options.MaxAdaptiveWait.Ticks);
            var previous = _current;
            var next = new BatchingLimits((int)_maxRows, TimeSpan.FromTicks((long)_maxWaitTicks));
            if (next == previous)
            {
                return null;
            }

            Volatile.Write(ref _current, next);
            return new LimitsChange(previous, next, p99);
        }
    }

    private long P99()
    {
        var window = _sortScratch.AsSpan(0, _sampleCount);
        _samples.AsSpan(0, _sampleCount).CopyTo(window);
        window.Sort();
        // Nearest rank: the smallest sample at or above 99 % of the window.
        var rank = (int)Math.Ceiling(0.99 * _sampleCount);
        return window[Math.Max(rank, 1) - 1];
    }
}
