using Microsoft.Extensions.Logging;

namespace RecSys.Trainer.Retraining;

/// <summary>
/// Runs one training job on a schedule and on demand, never two at once. A run that fails (or throws) is recorded with its
/// reason and logged at Error; the schedule carries on, and since a failed run publishes nothing the previous model keeps
/// serving. A slot that comes while a run is still going is skipped, not queued.
/// </summary>
public sealed class RetrainingScheduler : IAsyncDisposable
{
    private readonly RetrainSchedule _schedule;
    private readonly Func<CancellationToken, Task<RunResult>> _run;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Lock _gate = new();
    private RetrainingSnapshot _snapshot;
    private Task _inFlight = Task.CompletedTask;
    private int _runsStarted;
    private bool _disposed;

    public RetrainingScheduler(RetrainSchedule schedule, Func<CancellationToken, Task<RunResult>> run, TimeProvider time, ILogger<RetrainingScheduler> logger)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        _schedule = schedule;
        _run = run;
        _time = time;
        _logger = logger;
        _snapshot = new RetrainingSnapshot(schedule.Describe(), null, null, null, null, 0, 0);
    }

    /// <summary>Raised after every change of <see cref="Snapshot"/> (next slot set, run started, run finished).</summary>
    public event Action<RetrainingSnapshot>? Changed;

    public RetrainingSnapshot Snapshot
    {
        get
        {
            lock (_gate)
            {
                return _snapshot;
            }
        }
    }

    /// <summary>Starts a run in the background unless one is in progress; either way says which run is going.</summary>
    public RunStart TryStart(RunTrigger trigger)
    {
        RunStart start;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_snapshot.Current is { } current)
            {
                return new RunStart(false, current);
            }

            var run = new RunRecord(++_runsStarted, trigger, _time.GetUtcNow(), null, RunOutcome.Running, null, null);
            _snapshot = _snapshot with { Current = run };
            _inFlight = Task.Run(() => ExecuteAsync(run));
            start = new RunStart(true, run);
        }

        RetrainingLog.RunStarted(_logger, start.Run.Number, trigger);
        Changed?.Invoke(Snapshot);
        return start;
    }

    /// <summary>The schedule loop: waits for each slot and starts a run there. Ends when <paramref name="cancellationToken"/> fires.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var startedAt = _time.GetUtcNow();
        var previousSlot = startedAt;
        while (!cancellationToken.IsCancellationRequested)
        {
            var now = _time.GetUtcNow();
            // Never before the slot just served: a timer that fires a tick early must not serve the same slot twice.
            var slot = _schedule.NextSlotAfter(now > previousSlot ? now : previousSlot, startedAt);
            var wait = Task.Delay(slot - now, _time, cancellationToken);
            // Published once the timer is armed, so that whoever reads it (a test advancing a fake clock) cannot slip in between.
            SetNextRun(slot, first: previousSlot == startedAt);
            try
            {
                await wait.ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }

            previousSlot = slot;
            var start = TryStart(RunTrigger.Schedule);
            if (!start.Started)
            {
                RetrainingLog.SlotSkipped(_logger, start.Run.Number, start.Run.StartedAt);
            }
        }
    }

    /// <summary>Cancels the run in progress, if any, and waits for it to end.</summary>
    public async ValueTask DisposeAsync()
    {
        Task inFlight;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            inFlight = _inFlight;
        }

        await _shutdown.CancelAsync().ConfigureAwait(false);
        await inFlight.ConfigureAwait(false);
        _shutdown.Dispose();
    }

    private void SetNextRun(DateTimeOffset slot, bool first)
    {
        lock (_gate)
        {
            _snapshot = _snapshot with { NextRun = slot };
        }

        if (first)
        {
            RetrainingLog.Scheduled(_logger, _schedule.Describe(), slot);
        }

        Changed?.Invoke(Snapshot);
    }

    private async Task ExecuteAsync(RunRecord run)
    {
        var started = _time.GetTimestamp();
        RunResult? result;
        Exception? error = null;
        try
        {
            result = await _run(_shutdown.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_shutdown.IsCancellationRequested)
        {
            result = null;
        }
#pragma warning disable CA1031 // Whatever a run throws is its failure, recorded and shown; it must not end the schedule.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            error = ex;
            result = RunResult.Fail(ex.Message);
        }

        var seconds = _time.GetElapsedTime(started).TotalSeconds;
        var outcome = result is null ? RunOutcome.Canceled : result.Succeeded ? RunOutcome.Succeeded : RunOutcome.Failed;
        var failure = outcome == RunOutcome.Failed ? (string.IsNullOrWhiteSpace(result!.Failure) ? "the run reported failure without a reason" : result.Failure) : null;
        var finished = run with
        {
            FinishedAt = _time.GetUtcNow(),
            Outcome = outcome,
            ModelDirectory = result?.ModelDirectory,
            Failure = failure,
        };
        lock (_gate)
        {
            _snapshot = _snapshot with
            {
                Current = null,
                LastRun = finished,
                LastSuccessAt = outcome == RunOutcome.Succeeded ? finished.FinishedAt : _snapshot.LastSuccessAt,
                RunsSucceeded = _snapshot.RunsSucceeded + (outcome == RunOutcome.Succeeded ? 1 : 0),
                RunsFailed = _snapshot.RunsFailed + (outcome == RunOutcome.Failed ? 1 : 0),
            };
        }

        switch (outcome)
        {
            case RunOutcome.Succeeded:
                RetrainingLog.RunSucceeded(_logger, run.Number, seconds, finished.ModelDirectory);
                break;
            case RunOutcome.Failed:
                RetrainingLog.RunFailed(_logger, run.Number, seconds, failure!, error);
                break;
            default:
                RetrainingLog.RunCanceled(_logger, run.Number);
                break;
        }

        Changed?.Invoke(Snapshot);
    }
}
