using System.ComponentModel.DataAnnotations;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using RecSys.ServiceDefaults.Security;

namespace RecSys.Ranking.Services;

/// <summary>
/// Settings of the candidate budget under load (section <c>Ranking:LoadDegradation</c>): the design's "high latency"
/// recovery, "reduce ef_search, limit candidates", taken at once and undone when latency allows.
/// </summary>
public sealed class LoadDegradationOptions
{
    public const string SectionName = "Ranking:LoadDegradation";

    /// <summary>Off: every request asks <see cref="RankingOptions.CandidateCount"/> candidates whatever the latency.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// The p99 of served requests above which the next smaller budget is taken. Below the load shedder's target (300 ms),
    /// so that a request is made cheaper before one is refused.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:01:00")]
    public TimeSpan TargetP99 { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// The smaller budgets, largest first, each below the one before and below <see cref="RankingOptions.CandidateCount"/>
    /// (larger steps are skipped). Retrieval scales its source budgets, hence the vector search's per-shard k and ef, to
    /// the count asked, so one number makes every stage cheaper.
    /// </summary>
    public int[] CandidateSteps { get; set; } = [2500, 1000, 500];

    /// <summary>How often the p99 is judged (over the requests completed in the window).</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan Window { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Requests a window needs before its p99 can make the budget smaller (a few slow requests are not load).</summary>
    [Range(1, 100_000)]
    public int MinSamples { get; set; } = 20;

    /// <summary>
    /// Requests in flight on average over a window (by Little's law, the sum of its latencies over its length) needed before
    /// its p99 can make the budget smaller: a lone slow request, or a client asking one request at a time, is not load, and
    /// with few samples a window's p99 is its slowest request.
    /// </summary>
    [Range(0.0, 10_000.0)]
    public double MinConcurrency { get; set; } = 2.0;

    /// <summary>A larger budget comes back once every window has stayed under this share of the target for <see cref="RecoverAfter"/>.</summary>
    [Range(0.05, 1.0)]
    public double RecoverBelow { get; set; } = 0.5;

    /// <summary>
    /// How long latency must stay low before one step is taken back (steps down are at once: overload hurts now). A step
    /// back that is undone within this time doubles the wait for the next one, up to <see cref="MaxRecoverAfter"/>, so a
    /// load that sits between two budgets does not flap between them; the wait returns to this once the full budget is back.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan RecoverAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest wait before a step back, after repeated failed ones.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan MaxRecoverAfter { get; set; } = TimeSpan.FromSeconds(80);
}

/// <summary>Checks <see cref="LoadDegradationOptions"/> at start: data annotations, then the steps' order.</summary>
[OptionsValidator]
public sealed partial class LoadDegradationOptionsValidator : IValidateOptions<LoadDegradationOptions>;

/// <summary>The steps of <see cref="LoadDegradationOptions.CandidateSteps"/> must be positive and strictly decreasing.</summary>
public sealed class LoadDegradationStepsValidator : IValidateOptions<LoadDegradationOptions>
{
    public ValidateOptionsResult Validate(string? name, LoadDegradationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var steps = options.CandidateSteps ?? [];
        for (var i = 0; i < steps.Length; i++)
        {
            if (steps[i] < 1 || (i > 0 && steps[i] >= steps[i - 1]))
            {
                return ValidateOptionsResult.Fail(
                    $"{LoadDegradationOptions.SectionName}:CandidateSteps must be positive and strictly decreasing (got [{string.Join(", ", steps)}]).");
            }
        }

        return ValidateOptionsResult.Success;
    }
}

/// <summary>
/// How many candidates a request asks of Retrieval now. Every completed request reports its latency; once per window the
/// p99 of the window decides: above the target, the next smaller budget at once; under <see cref="LoadDegradationOptions.RecoverBelow"/>
/// x the target for <see cref="LoadDegradationOptions.RecoverAfter"/> (longer after a step back that did not hold), one step back. Candidates are what a request's
/// cost scales with (the vector search's k and ef, the decoding, the feature rows, the pre-ranker), so on a machine that
/// cannot carry the full budget at the offered rate the answers get a little worse instead of late, and the load
/// shedder refuses only what even the smallest budget cannot carry. A window with too few requests, or too few of them in
/// flight at once (<see cref="LoadDegradationOptions.MinConcurrency"/>), does not make the budget smaller.
/// </summary>
public sealed partial class CandidateBudget
{
    public const string MeterName = "RecSys.Ranking.LoadDegradation";

    private readonly TimeProvider _time;
    private readonly ILogger<CandidateBudget> _logger;
    private readonly bool _enabled;
    private readonly int _full;
    private readonly int[] _budgets;
    private readonly long _targetTicks;
    private readonly long _recoverTicks;
    private readonly TimeSpan _window;
    private readonly TimeSpan _recoverAfter;
    private readonly TimeSpan _maxRecoverAfter;
    private readonly int _minSamples;
    private readonly double _minConcurrency;
    private readonly Lock _gate = new();
    private readonly LatencyWindow _samples = new();
    private readonly Counter<long>? _changes;

    private int _level;
    private long _windowStart;
    private long _calmSince;
    private TimeSpan _recoverWait;
    private long _lastStepUp = -1;

    public CandidateBudget(IOptions<RankingOptions> ranking, IOptions<LoadDegradationOptions> options, TimeProvider time, ILogger<CandidateBudget> logger, IMeterFactory? meters = null)
    {
        ArgumentNullException.ThrowIfNull(ranking);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        var o = options.Value;
        _time = time;
        _logger = logger;
        _full = ranking.Value.CandidateCount;
        _enabled = o.Enabled;
        // Level 0 is the full budget; steps at or above it would not make a request cheaper.
        _budgets = [_full, .. (o.CandidateSteps ?? []).Where(s => s < _full)];
        _targetTicks = ToTimestampTicks(o.TargetP99);
        _recoverTicks = (long)(_targetTicks * o.RecoverBelow);
        _window = o.Window;
        _recoverAfter = o.RecoverAfter;
        _maxRecoverAfter = o.MaxRecoverAfter > o.RecoverAfter ? o.MaxRecoverAfter : o.RecoverAfter;
        _recoverWait = o.RecoverAfter;
        _minSamples = o.MinSamples;
        _minConcurrency = o.MinConcurrency;
        _windowStart = time.GetTimestamp();
        _calmSince = _windowStart;
        if (meters is not null)
        {
            // The factory owns the meter and disposes it with the container.
            var meter = meters.Create(MeterName);
            meter.CreateObservableGauge("recsys.ranking.candidate_budget", () => Current, "{candidate}", "Candidates a request asks of Retrieval now.");
            meter.CreateObservableGauge("recsys.ranking.degradation_level", () => Volatile.Read(ref _level), "{step}", "Steps below the full candidate budget (0: full).");
            _changes = meter.CreateCounter<long>("recsys.ranking.candidate_budget.changes", "{change}", "Changes of the candidate budget, tagged by direction.");
        }
    }

    /// <summary>The candidates a request asks for now (before the caller's own count is taken into account).</summary>
    public int Current => _budgets[Volatile.Read(ref _level)];

    /// <summary>The full budget (<see cref="RankingOptions.CandidateCount"/>).</summary>
    public int Full => _full;

    /// <summary>Whether requests now ask for less than the full budget.</summary>
    public bool IsReduced => Volatile.Read(ref _level) > 0;

    /// <summary>Reports one completed request's latency; may move the budget when a window closes.</summary>
    public void Record(TimeSpan latency)
    {
        if (!_enabled)
        {
            return;
        }

        var now = _time.GetTimestamp();
        lock (_gate)
        {
            _samples.Add(latency.Ticks * _time.TimestampFrequency / TimeSpan.TicksPerSecond);

            if (_time.GetElapsedTime(_windowStart, now) >= _window)
            {
                CloseWindow(now);
            }
        }
    }

    private void CloseWindow(long now)
    {
        var (count, p99, busy) = _samples.Close();
        var length = now - _windowStart;
        _windowStart = now;
        // Mean requests in flight over the window (Little's law).
        var concurrency = length > 0 ? busy / (double)length : 0;
        var level = _level;
        if (count >= _minSamples && p99 > _targetTicks && concurrency >= _minConcurrency)
        {
            _calmSince = now;
            if (level + 1 < _budgets.Length)
            {
                if (_lastStepUp >= 0 && _time.GetElapsedTime(_lastStepUp, now) < _recoverWait)
                {
                    // The last step back did not hold: wait longer before the next try.
                    _recoverWait = _recoverWait * 2 < _maxRecoverAfter ? _recoverWait * 2 : _maxRecoverAfter;
                }

                _lastStepUp = -1;
                Move(level + 1, p99, "down");
            }

            return;
        }

        if (count >= _minSamples && p99 > _recoverTicks)
        {
            // Under the target but not calm: the budget holds, and so does the wait for recovery.
            _calmSince = now;
            return;
        }

        if (level > 0 && _time.GetElapsedTime(_calmSince, now) >= _recoverWait)
        {
            _calmSince = now;
            _lastStepUp = now;
            Move(level - 1, p99, "up");
        }
        else if (level == 0 && _lastStepUp >= 0 && _time.GetElapsedTime(_lastStepUp, now) >= _recoverWait)
        {
            // The full budget held: the next overload starts from the short wait again.
            _recoverWait = _recoverAfter;
            _lastStepUp = -1;
        }
    }

    private void Move(int level, long p99, string direction)
    {
        Volatile.Write(ref _level, level);
        _changes?.Add(1, new KeyValuePair<string, object?>("direction", direction));
        LogBudgetChanged(_logger, _budgets[level], _full, TimeSpan.FromTicks(p99 * TimeSpan.TicksPerSecond / _time.TimestampFrequency).TotalMilliseconds);
    }

    private long ToTimestampTicks(TimeSpan span) => (long)(span.Ticks * (double)_time.TimestampFrequency / TimeSpan.TicksPerSecond);

    [LoggerMessage(Level = LogLevel.Information, Message = "Candidate budget now {Budget} of {Full} (window p99 {P99Ms:F1} ms)")]
    private static partial void LogBudgetChanged(ILogger logger, int budget, int full, double p99Ms);
}

/// <summary>
/// Reports the candidate budget on <c>/health</c>: always healthy (a smaller budget is the service coping with load, not a
/// failed dependency); the description says when requests ask for fewer candidates than the full budget.
/// </summary>
public sealed class CandidateBudgetHealthCheck(CandidateBudget budget) : IHealthCheck
{
    public const string Name = "candidate-budget";

    public Task<HealthCheckResult> CheckHealthAsync(
        HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var current = budget.Current;
        var data = new Dictionary<string, object> { ["candidates"] = current, ["full"] = budget.Full };
        return Task.FromResult(HealthCheckResult.Healthy(
            current < budget.Full ? $"Latency over target: requests ask {current} of {budget.Full} candidates" : $"Full budget: {current} candidates",
            data));
    }
}
