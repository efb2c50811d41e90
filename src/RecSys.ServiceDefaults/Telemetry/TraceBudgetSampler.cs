using OpenTelemetry.Trace;

namespace RecSys.ServiceDefaults.Telemetry;

/// <summary>
/// Root sampler that keeps at most a budget of new traces per second (a token bucket refilled continuously, holding at most
/// one second's budget) and drops the rest. Wrapped in a <see cref="ParentBasedSampler"/>, a request's spans in every service
/// follow the decision taken where the trace began. A quiet local run keeps every trace, as its dashboard expects; under
/// load the telemetry cost stays bounded: measured on the AppHost at 20 req/s, the dashboard ingesting every span cost
/// 16.7 CPU-ms per request, more than Retrieval (docs/telemetry.md).
/// </summary>
public sealed class TraceBudgetSampler : Sampler
{
    private static readonly SamplingResult Keep = new(SamplingDecision.RecordAndSample);
    private static readonly SamplingResult Drop = new(SamplingDecision.Drop);

    private readonly TimeProvider _time;
    private readonly double _perSecond;
    private readonly Lock _gate = new();
    private double _tokens;
    private long _last;

    public TraceBudgetSampler(double tracesPerSecond, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        if (!(tracesPerSecond >= 0) || double.IsInfinity(tracesPerSecond))
        {
            throw new ArgumentOutOfRangeException(nameof(tracesPerSecond), tracesPerSecond, "A trace budget is a finite number of traces per second, 0 or more.");
        }

        _time = time;
        _perSecond = tracesPerSecond;
        _tokens = Math.Max(1, tracesPerSecond);
        _last = time.GetTimestamp();
        Description = $"TraceBudgetSampler{{{tracesPerSecond}/s}}";
    }

    public override SamplingResult ShouldSample(in SamplingParameters samplingParameters)
    {
        if (_perSecond == 0)
        {
            return Drop;
        }

        var now = _time.GetTimestamp();
        lock (_gate)
        {
            var elapsed = (now - _last) / (double)_time.TimestampFrequency;
            _last = now;
            _tokens = Math.Min(Math.Max(1, _perSecond), _tokens + (elapsed * _perSecond));
            if (_tokens < 1)
            {
                return Drop;
            }

            _tokens -= 1;
            return Keep;
        }
    }
}
