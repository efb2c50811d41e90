using System.Diagnostics.Metrics;
using System.Threading.RateLimiting;

namespace RecSys.ServiceDefaults.Security;

/// <summary>
/// A concurrency limit that follows the service's latency: requests in flight beyond the current limit are refused at once
/// (no queue), and the limit moves once per window on the p99 of the requests completed in it: x0.8 when above the target
/// and the window ran at least half full, x1.2 when below 0.7 x the target and the window reached the limit (there was
/// demand for more), within
/// [<see cref="RateLimitingOptions.MinConcurrentRequests"/>, <see cref="RateLimitingOptions.MaxConcurrentRequests"/>].
/// A fixed cap has to be guessed per machine: too high and an overloaded service admits requests that all wait seconds for
/// the CPU; too low and it refuses load it could carry. By Little's law the right cap is throughput x target latency, and
/// both depend on the machine, the catalog and the models, so the limiter measures instead of guessing.
/// </summary>
public sealed class AdaptiveConcurrencyLimiter : RateLimiter
{
    /// <summary>The meter of load shedding; its instruments carry the current limit and the rejections.</summary>
    public const string MeterName = "RecSys.LoadShedding";

    private static readonly TimeSpan s_retryAfter = TimeSpan.FromSeconds(1);

    private readonly TimeProvider _time;
    private readonly TimeSpan _target;
    private readonly TimeSpan _window;
    private readonly int _minSamples;
    private readonly int _min;
    private readonly int _max;
    private readonly Lock _gate = new();
    private readonly LatencyWindow _samples = new();
    private readonly Meter? _meter;
    private readonly Counter<long>? _rejections;

    private int _limit;
    private int _inFlight;
    private int _peakInFlight;
    private long _windowStart;
    private long _rejected;
    private long _admitted;
    private bool _disposed;

    public AdaptiveConcurrencyLimiter(RateLimitingOptions options, TimeProvider time, IMeterFactory? meters = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        if (options.MaxConcurrentRequests <= 0 || options.ConcurrencyTargetP99 is not { } target || target <= TimeSpan.Zero)
        {
            throw new ArgumentException("The adaptive limit needs MaxConcurrentRequests > 0 and a positive ConcurrencyTargetP99.", nameof(options));
        }

        _time = time;
        _target = target;
        _window = options.ConcurrencyWindow;
        _minSamples = options.ConcurrencyWindowMinSamples;
        _max = options.MaxConcurrentRequests;
        _min = Math.Min(options.MinConcurrentRequests, _max);
        _limit = Math.Clamp(options.InitialConcurrentRequests ?? _max, _min, _max);
        _windowStart = time.GetTimestamp();
        if (meters is not null)
        {
            _meter = meters.Create(MeterName);
            _meter.CreateObservableGauge("recsys.load_shedding.concurrency_limit", () => Volatile.Read(ref _limit), "{request}", "Requests the service admits in flight now.");
            _meter.CreateObservableGauge("recsys.load_shedding.in_flight", () => Volatile.Read(ref _inFlight), "{request}", "Requests in flight.");
            _rejections = _meter.CreateCounter<long>("recsys.load_shedding.rejections", "{request}", "Requests refused with 429 because the concurrency limit was reached.");
        }
    }

    /// <summary>The limit now.</summary>
    public int CurrentLimit => Volatile.Read(ref _limit);

    // Null keeps the partitioned limiter from discarding this one when idle: the learned limit is the service's state.
    public override TimeSpan? IdleDuration => null;

    public override RateLimiterStatistics? GetStatistics()
    {
        lock (_gate)
        {
            return new RateLimiterStatistics
            {
                CurrentAvailablePermits = Math.Max(0, _limit - _inFlight),
                CurrentQueuedCount = 0,
                TotalFailedLeases = _rejected,
                TotalSuccessfulLeases = _admitted,
            };
        }
    }

    protected override RateLimitLease AttemptAcquireCore(int permitCount)
    {
        if (permitCount != 1)
        {
            throw new ArgumentOutOfRangeException(nameof(permitCount), permitCount, "One request is one permit.");
        }

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_inFlight >= _limit)
            {
                _rejected++;
                _peakInFlight = Math.Max(_peakInFlight, _inFlight + 1);
                _rejections?.Add(1);
                return Rejected.Instance;
            }

            _admitted++;
            _inFlight++;
            _peakInFlight = Math.Max(_peakInFlight, _inFlight);
        }

        return new Admitted(this, _time.GetTimestamp());
    }

    protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(AttemptAcquireCore(permitCount));
    }

    protected override void Dispose(bool disposing)
    {
        // Both the rate-limiting middleware's partitioned limiter and the container own this instance: dispose once.
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        if (disposing)
        {
            _meter?.Dispose();
        }
    }

    private void Release(long started)
    {
        var now = _time.GetTimestamp();
        var latency = now - started;
        lock (_gate)
        {
            _inFlight--;
            _samples.Add(latency);
            if (_samples.Count >= _minSamples && _time.GetElapsedTime(_windowStart, now) >= _window)
            {
                CloseWindow(now);
            }
        }
    }

    private void CloseWindow(long now)
    {
        var p99 = _samples.Close().P99;
        var p99Time = TimeSpan.FromSeconds(p99 / (double)_time.TimestampFrequency);
        // Shrink only when the window ran at least half full: a slow window at low concurrency (a GC pause, a slow
        // dependency) is not a sign of too many requests in flight, and cutting the limit then refuses the next burst.
        if (p99Time > _target && _peakInFlight * 2 >= _limit)
        {
            _limit = Math.Max(_min, Math.Min(_limit - 1, (int)(_limit * 0.8)));
        }
        else if (p99Time < _target * 0.7 && _peakInFlight >= _limit)
        {
            _limit = Math.Min(_max, Math.Max(_limit + 1, (int)Math.Ceiling(_limit * 1.2)));
        }

        _peakInFlight = _inFlight;
        _windowStart = now;
    }

    private sealed class Admitted(AdaptiveConcurrencyLimiter owner, long started) : RateLimitLease
    {
        private int _released;

        public override bool IsAcquired => true;

        public override IEnumerable<string> MetadataNames => [];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = null;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                owner.Release(started);
            }
        }
    }

    private sealed class Rejected : RateLimitLease
    {
        public static readonly Rejected Instance = new();

        public override bool IsAcquired => false;

        public override IEnumerable<string> MetadataNames => [MetadataName.RetryAfter.Name];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            if (metadataName == MetadataName.RetryAfter.Name)
            {
                metadata = s_retryAfter;
                return true;
            }

            metadata = null;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
        }
    }
}
