using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace RecSys.Rollout;

/// <summary>An alert the host shows while the last rollout stands rolled back.</summary>
public sealed record RolloutAlert(DateTimeOffset At, string Version, RolloutStage Stage, string Gate, string Reason);

/// <summary>Everything the host shows about the rollout of one model kind.</summary>
public sealed record RolloutStatus(
    string Kind,
    RolloutState State,
    string? ProductionVersion,
    RolloutRecord? Rollout,
    double CandidatePercent,
    DateTimeOffset? WindowStartedAt,
    IReadOnlyList<GateResult> Gates,
    IReadOnlyList<string> Waiting,
    VersionMetrics? Production,
    VersionMetrics? Candidate,
    RolloutAlert? Alert);

/// <summary>
/// The rollout state machine of one model kind: shadow → canary → ramp 10/25/50/100 % → production, each stage advancing
/// only after its minimum duration and traffic and when its gates pass, and rolling back at once when a gate fails. Routing
/// reads an immutable snapshot (no lock on the serving path); operations and gate evaluations are serialized. The state is
/// persisted after every change so a restart resumes the rollout in its stage.
/// </summary>
public sealed class RolloutEngine : IDisposable
{
    private readonly Lock _lock = new();
    private readonly RolloutOptions _options;
    private readonly IModelVersionStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly RolloutStateStore _stateStore;
    private readonly RolloutMetrics _metrics;
    private readonly List<RolloutRecord> _past;
    private volatile RoutingTable _routing;
    private RolloutRecord? _current;
    private IReadOnlyList<GateResult> _lastGates = [];
    private IReadOnlyList<string> _waiting = [];
    private bool _ready;
    private ITimer? _timer;

    public RolloutEngine(RolloutOptions options, IModelVersionStore store, TimeProvider time, ILogger<RolloutEngine>? logger = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(time);
        options.Validate();
        _options = options;
        _store = store;
        _time = time;
        _logger = logger ?? NullLogger<RolloutEngine>.Instance;
        _stateStore = new RolloutStateStore(options.StateDirectory, options.ModelKind);
        Recorder = new RolloutRecorder(options, time);

        var document = _stateStore.Load();
        _past = [.. document.Past];
        _current = document.Current;
        if (_current is { Outcome: RolloutOutcome.Running } running)
        {
            _routing = TableFor(running);
            Recorder.BeginWindow(running.ProductionVersion, running.CandidateVersion, running.Stage, time.GetUtcNow());
            RolloutLog.Resumed(_logger, running.RolloutId, running.Stage, running.StageStartedAt);
        }
        else
        {
            _routing = RoutingTable.ProductionOnly(store.ActiveVersion(options.ModelKind));
        }

        _metrics = new RolloutMetrics(options.ModelKind, meterFactory,
            () => _routing.CandidateVersion is null ? 0 : _routing.Percent / 100,
            () => _current?.Outcome == RolloutOutcome.RolledBack ? 1 : 0);
    }

    /// <summary>Where the serving path reports latency, errors, scores, impressions and clicks.</summary>
    public RolloutRecorder Recorder { get; }

    /// <summary>Raised after every start, stage change, rollback and evaluation (outside the engine's lock).</summary>
    public event Action<RolloutStatus>? StatusChanged;

    /// <summary>The version that serves <paramref name="userId"/> now, and why.</summary>
    public RoutingDecision Route(string userId) => _routing.Route(userId);

    /// <summary>Starts rolling out <paramref name="candidateVersion"/> against the active version, in shadow.</summary>
    public RolloutStatus Start(string candidateVersion)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(candidateVersion);
        RolloutStatus status;
        lock (_lock)
        {
            if (_current is { Outcome: RolloutOutcome.Running } running)
            {
                throw new InvalidOperationException($"The rollout of {running.CandidateVersion} is in stage {running.Stage}; promote it to the end or roll it back first.");
            }

            var kind = _options.ModelKind;
            var production = _store.ActiveVersion(kind)
                ?? throw new InvalidOperationException($"No {kind} version is active to compare the candidate with; activate the first version directly.");
            if (string.Equals(production, candidateVersion, StringComparison.Ordinal))
            {
                throw new ArgumentException($"{candidateVersion} is already the production version.", nameof(candidateVersion));
            }

            if (_store.CandidateProblem(kind, candidateVersion) is { } problem)
            {
                throw new ArgumentException(problem, nameof(candidateVersion));
            }

            var now = _time.GetUtcNow();
            var record = new RolloutRecord($"{kind}:{candidateVersion}", kind, candidateVersion, production, RolloutStage.Shadow, RolloutOutcome.Running,
                now, now, null, null, null, []);
            if (_current is not null)
            {
                _past.Insert(0, _current);
                if (_past.Count > _options.HistoryLength)
                {
                    _past.RemoveRange(_options.HistoryLength, _past.Count - _options.HistoryLength);
                }
            }

            _stateStore.Save(record, _past);
            _current = record;
            EnterStage(record);
            RolloutLog.Started(_logger, record.RolloutId, candidateVersion, production);
            _metrics.Transition(RolloutStage.Shadow, forced: false);
            status = StatusCore();
        }

        StatusChanged?.Invoke(status);
        return status;
    }

    /// <summary>
    /// Advances the running rollout one stage. Without <paramref name="forceReason"/> the stage must be ready (minimum
    /// duration and traffic reached, every gate passing); with it the stage advances regardless and the reason is recorded.
    /// </summary>
    public RolloutStatus Promote(string? forceReason = null)
    {
        RolloutStatus status;
        lock (_lock)
        {
            var running = RunningOrThrow();
            if (forceReason is not null)
            {
                ArgumentException.ThrowIfNullOrWhiteSpace(forceReason);
                RolloutLog.Forced(_logger, running.RolloutId, running.Stage, running.Stage + 1, forceReason);
                Advance(running, $"forced by an operator: {forceReason}", forced: true);
            }
            else
            {
                EvaluateGates(running);
                if (!_ready)
                {
                    throw new InvalidOperationException($"Stage {running.Stage} is not ready to promote: {string.Join("; ", _waiting)}. Give a reason to force it.");
                }

                Advance(running, "promoted by an operator", forced: false);
            }

            status = StatusCore();
        }

        StatusChanged?.Invoke(status);
        return status;
    }

    /// <summary>Rolls the running rollout back: traffic returns to production at once and the candidate is marked failed.</summary>
    public RolloutStatus Rollback(string reason)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        RolloutStatus status;
        lock (_lock)
        {
            RollBack(RunningOrThrow(), RolloutGates.Manual, reason);
            status = StatusCore();
        }

        StatusChanged?.Invoke(status);
        return status;
    }

    /// <summary>
    /// An automatic rollback decided by the host outside the gates (e.g. gate <see cref="RolloutGates.Load"/>: the candidate's
    /// files do not load): traffic reverts at once and the candidate is marked failed. Returns false when no rollout runs.
    /// </summary>
    public bool Fail(string gate, string reason)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(gate);
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        RolloutStatus status;
        lock (_lock)
        {
            if (_current is not { Outcome: RolloutOutcome.Running } running)
            {
                return false;
            }

            RollBack(running, gate, $"{gate}: {reason}");
            status = StatusCore();
        }

        StatusChanged?.Invoke(status);
        return true;
    }

    /// <summary>One gate interval: evaluates the gates; rolls back on a failure, advances when ready (with automatic advance on).</summary>
    public RolloutStatus Evaluate()
    {
        RolloutStatus status;
        lock (_lock)
        {
            if (_current is not { Outcome: RolloutOutcome.Running } running)
            {
                return StatusCore();
            }

            var failed = EvaluateGates(running);
            if (failed is not null)
            {
                RollBack(running, failed.Gate, $"{failed.Gate}: {failed.Detail}");
            }
            else if (_ready && _options.AutoAdvance)
            {
                Advance(running, "gates passed", forced: false);
            }

            status = StatusCore();
        }

        StatusChanged?.Invoke(status);
        return status;
    }

    public RolloutStatus Status()
    {
        lock (_lock)
        {
            return StatusCore();
        }
    }

    /// <summary>Evaluates the gates every <see cref="RolloutOptions.GateInterval"/> on the engine's <see cref="TimeProvider"/>.</summary>
    public void StartGateTimer()
    {
        lock (_lock)
        {
            _timer ??= _time.CreateTimer(static state => ((RolloutEngine)state!).EvaluateSafely(), this, _options.GateInterval, _options.GateInterval);
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _timer?.Dispose();
            _timer = null;
        }

        _metrics.Dispose();
    }

    private void EvaluateSafely()
    {
        try
        {
            Evaluate();
        }
        catch (Exception e)
        {
            RolloutLog.EvaluationFailed(_logger, e);
        }
    }

    private RolloutRecord RunningOrThrow() =>
        _current is { Outcome: RolloutOutcome.Running } running
            ? running
            : throw new InvalidOperationException($"No {_options.ModelKind} rollout is running.");

    /// <summary>Runs the gates over the current window; sets readiness and returns the first failing gate, if any.</summary>
    private GateResult? EvaluateGates(RolloutRecord running)
    {
        var window = Recorder.Window ?? throw new InvalidOperationException("A running rollout has no metrics window.");
        Recorder.Sweep();
        var gates = RolloutGates.Evaluate(_options, window);
        var waiting = new List<string>();
        var stage = _options.ForStage(running.Stage);
        var elapsed = _time.GetUtcNow() - running.StageStartedAt;
        if (elapsed < stage.MinDuration)
        {
            waiting.Add(Format($"{running.Stage} has run {elapsed.TotalMinutes:F1} of {stage.MinDuration.TotalMinutes:F1} minutes"));
        }

        var requests = Interlocked.Read(ref window.Candidate.Requests);
        if (requests < stage.MinRequests)
        {
            waiting.Add(Format($"the candidate handled {requests} of {stage.MinRequests} requests"));
        }

        foreach (var gate in gates.Where(g => g.Verdict is GateVerdict.Pending or GateVerdict.Fail))
        {
            waiting.Add($"{gate.Gate} {gate.Verdict.ToString().ToLowerInvariant()}: {gate.Detail}");
        }

        _lastGates = gates;
        _waiting = waiting;
        _ready = waiting.Count == 0;
        return gates.FirstOrDefault(g => g.Verdict == GateVerdict.Fail);
    }

    private void Advance(RolloutRecord running, string cause, bool forced)
    {
        var now = _time.GetUtcNow();
        var next = running.Stage + 1;
        var transitions = running.Transitions.Append(new RolloutTransition(now, running.Stage, next, cause, forced)).ToList();
        if (next == RolloutStage.Production)
        {
            try
            {
                _store.Promote(running.Kind, running.CandidateVersion);
            }
            catch (Exception e)
            {
                RolloutLog.RegistryFailed(_logger, running.RolloutId, "activation", running.CandidateVersion, e);
                RollBack(running, RolloutGates.Activation, $"activation failed: {e.Message}");
                return;
            }

            IReadOnlyList<string> removed = [];
            try
            {
                removed = _store.CleanUp(running.Kind);
            }
            catch (Exception e)
            {
                RolloutLog.RegistryFailed(_logger, running.RolloutId, "clean-up", running.ProductionVersion, e);
            }

            var completed = running with
            {
                Stage = next,
                Outcome = RolloutOutcome.Completed,
                StageStartedAt = now,
                EndedAt = now,
                Transitions = transitions,
            };
            _routing = RoutingTable.ProductionOnly(running.CandidateVersion);
            Recorder.EndWindow();
            _current = completed;
            _stateStore.Save(completed, _past);
            RolloutLog.Completed(_logger, running.RolloutId, running.CandidateVersion, removed.Count == 0 ? "nothing" : string.Join(", ", removed));
        }
        else
        {
            var advanced = running with { Stage = next, StageStartedAt = now, Transitions = transitions };
            _stateStore.Save(advanced, _past);
            _current = advanced;
            EnterStage(advanced);
            RolloutLog.Advanced(_logger, running.RolloutId, running.Stage, next, RolloutStages.PercentOf(next, _options.CanaryPercent), cause);
        }

        _metrics.Transition(next, forced);
        _lastGates = [];
        _waiting = [];
        _ready = false;
    }

    private void RollBack(RolloutRecord running, string gate, string reason)
    {
        // Traffic first: the next routed request goes to production, whatever happens to the bookkeeping below.
        _routing = RoutingTable.ProductionOnly(running.ProductionVersion);
        var now = _time.GetUtcNow();
        var rolledBack = running with { Outcome = RolloutOutcome.RolledBack, EndedAt = now, FailedGate = gate, Reason = reason };
        _current = rolledBack;
        Recorder.EndWindow();
        _ready = false;
        _metrics.RolledBack(gate);
        RolloutLog.RolledBack(_logger, running.RolloutId, running.CandidateVersion, running.Stage, gate, reason, running.ProductionVersion);
        try
        {
            _store.MarkFailed(running.Kind, running.CandidateVersion, reason);
        }
        catch (Exception e)
        {
            RolloutLog.RegistryFailed(_logger, running.RolloutId, "marking failed", running.CandidateVersion, e);
        }

        _stateStore.Save(rolledBack, _past);
    }

    private void EnterStage(RolloutRecord record)
    {
        Recorder.BeginWindow(record.ProductionVersion, record.CandidateVersion, record.Stage, _time.GetUtcNow());
        _routing = TableFor(record);
        _lastGates = [];
        _waiting = [];
        _ready = false;
    }

    private RoutingTable TableFor(RolloutRecord record) =>
        new(record.ProductionVersion, record.CandidateVersion, record.RolloutId, record.Stage, RolloutStages.PercentOf(record.Stage, _options.CanaryPercent));

    private RolloutStatus StatusCore()
    {
        var current = _current;
        var state = current switch
        {
            null => RolloutState.Idle,
            { Outcome: RolloutOutcome.Running } => _ready ? RolloutState.ReadyToPromote : RolloutState.Running,
            { Outcome: RolloutOutcome.Completed } => RolloutState.Completed,
            _ => RolloutState.RolledBack,
        };
        var window = Recorder.Window;
        var alert = current is { Outcome: RolloutOutcome.RolledBack, EndedAt: { } at }
            ? new RolloutAlert(at, current.CandidateVersion, current.Stage, current.FailedGate ?? RolloutGates.Manual, current.Reason ?? "")
            : null;
        var routing = _routing;
        return new RolloutStatus(
            _options.ModelKind,
            state,
            routing.ProductionVersion,
            current,
            routing.CandidateVersion is null ? 0 : routing.Percent,
            window?.StartedAt,
            _lastGates,
            _waiting,
            window?.Production.Snapshot(_options.LatencyQuantile),
            window?.Candidate.Snapshot(_options.LatencyQuantile),
            alert);
    }

    private static string Format(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
