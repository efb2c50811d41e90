using System.Collections.Concurrent;

namespace RecSys.FeatureStore.OfflineStore;

/// <summary>State of a backfill job on the wire.</summary>
public sealed record BackfillJob(string Id, string State, DateTimeOffset StartedAt, DateTimeOffset? FinishedAt, BackfillProgress Progress, string? Error)
{
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
}

/// <summary>Runs backfills in the background, one at a time, and keeps their progress for <c>GET /v1/offline/backfill/{id}</c>.</summary>
public sealed partial class BackfillJobs(
    BackfillProcessor processor,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    ILogger<BackfillJobs> logger)
{
    private readonly ConcurrentDictionary<string, BackfillJob> _jobs = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private Task? _running;
    private string? _runningId;

    /// <summary>Starts a backfill unless one is running; returns the new job, or the running one with false.</summary>
    public bool TryStart(out BackfillJob job)
    {
        lock (_gate)
        {
            if (_running is { IsCompleted: false })
            {
                job = _jobs[_runningId!];
                return false;
            }

            var id = Guid.NewGuid().ToString("N");
            job = new BackfillJob(id, BackfillJob.Running, time.GetUtcNow(), null, new BackfillProgress(0, 0, 0, 0, 0), null);
            _jobs[id] = job;
            _runningId = id;
            _running = Task.Run(() => RunAsync(id, lifetime.ApplicationStopping));
            return true;
        }
    }

    public BackfillJob? Get(string id) => _jobs.GetValueOrDefault(id);

    /// <summary>Completes when the job (if any) is done: for tests and for a clean stop.</summary>
    public Task WhenIdleAsync()
    {
        lock (_gate)
        {
            return _running ?? Task.CompletedTask;
        }
    }

    private async Task RunAsync(string id, CancellationToken cancellationToken)
    {
        LogStarted(logger, id);
        try
        {
            var done = await processor.RunAsync(p => _jobs[id] = _jobs[id] with { Progress = p }, cancellationToken);
            _jobs[id] = _jobs[id] with { State = BackfillJob.Succeeded, FinishedAt = time.GetUtcNow(), Progress = done };
            LogFinished(logger, id, done.EventsRead, done.Duplicates, done.RowsWritten);
        }
        catch (Exception ex)
        {
            _jobs[id] = _jobs[id] with { State = BackfillJob.Failed, FinishedAt = time.GetUtcNow(), Error = ex.Message };
            LogFailed(logger, id, ex);
        }
    }

    [LoggerMessage(EventId = 610, Level = LogLevel.Information, Message = "Backfill {Id} started")]
    private static partial void LogStarted(ILogger logger, string id);

    [LoggerMessage(EventId = 611, Level = LogLevel.Information, Message = "Backfill {Id} done: {Events} events ({Duplicates} duplicates skipped), {Rows} rows written")]
    private static partial void LogFinished(ILogger logger, string id, long events, long duplicates, long rows);

    [LoggerMessage(EventId = 612, Level = LogLevel.Error, Message = "Backfill {Id} failed")]
    private static partial void LogFailed(ILogger logger, string id, Exception exception);
}
