using Microsoft.Extensions.Options;
using StackExchange.Redis;
using RecSys.FeatureServer.EventLog;
using RecSys.FeatureServer.OfflineStore;
using RecSys.FeatureServer.Telemetry;

namespace RecSys.FeatureServer.Streaming;

/// <summary>
/// Tails the event log and applies it to the online store in order. The position (a <see cref="LogPosition"/>: one offset
/// per partition) lives in the online store itself (<see cref="Core.Storage.OnlineKeys.ProcessorPosition"/>) and moves
/// only after a batch is applied, by a compare-and-set, so a crash at any point redelivers from the last committed
/// position (the applier's per-event dedupe markers make that harmless) and never skips a record; a lost store loses
/// its position too and is rebuilt from the start. The Kafka log does not commit to its consumer group: this stored
/// position is the committed position.
/// </summary>
public sealed partial class StreamProcessor(
    IEventLog log,
    OnlineApplier applier,
    ProcessorState state,
    FeatureServerMetrics metrics,
    IOptions<FeatureServerOptions> options,
    TimeProvider time,
    ILogger<StreamProcessor> logger,
    OfflineCapture? offlineCapture = null) : BackgroundService
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    /// <summary>How long the store must show no progress before a (re)started processor writes.</summary>
    internal static readonly TimeSpan StartQuietPeriod = TimeSpan.FromMilliseconds(300);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.RunProcessor)
        {
            LogDisabled(logger);
            return;
        }

        await Task.Yield();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogFailed(logger, state.Position, ex);
                await Task.Delay(RetryDelay, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    /// <summary>Applies until cancelled; resumes from the stored position after every error.</summary>
    internal async Task RunAsync(CancellationToken cancellationToken)
    {
        // A predecessor's last scripts may still be running on the store: start only once it is quiet.
        await applier.WaitForQuietAsync(StartQuietPeriod, time, cancellationToken);
        var position = await applier.InitializeAsync();
        state.Position = position;
        LogStarting(logger, position.ToString(), log.TailPosition);
        var batchSize = options.Value.ApplyBatchSize;
        while (!cancellationToken.IsCancellationRequested)
        {
            var batch = await log.ReadAsync(position, batchSize, cancellationToken);
            state.Tail = log.TailPosition;
            var result = await ApplyBatchAsync(batch, position);
            if (!result.Committed)
            {
                LogPositionMoved(logger, position.ToString(), result.StoredPosition.ToString());
                position = await applier.InitializeAsync();
                state.Position = position;
                continue;
            }

            await CaptureOfflineAsync(batch);
            position = batch.NextPosition;
            state.Position = position;
            state.Tail = log.TailPosition;
        }
    }

    /// <summary>
    /// Hands the values this batch wrote to the offline store. A failure here never stalls the online path: the rows it
    /// loses are restored by a backfill from the log.
    /// </summary>
    private async Task CaptureOfflineAsync(LogBatch batch)
    {
        if (offlineCapture is null || batch.Entries.Count == 0)
        {
            return;
        }

        try
        {
            await offlineCapture.CaptureAsync(batch.Entries);
        }
        catch (Exception ex) when (ex is RedisException or InvalidOperationException or TimeoutException)
        {
            LogOfflineCaptureFailed(logger, batch.Entries.Count, ex);
        }
    }

    [LoggerMessage(EventId = 204, Level = LogLevel.Warning, Message = "Offline capture of {Records} records failed; a backfill restores them")]
    private static partial void LogOfflineCaptureFailed(ILogger logger, int records, Exception exception);

    private async Task<ApplyResult> ApplyBatchAsync(LogBatch batch, LogPosition position)
    {
        using var activity = FeatureServerMetrics.ActivitySource.StartActivity("apply");
        activity?.SetTag("recsys.log.position", position.ToString());
        activity?.SetTag("recsys.log.records", batch.Entries.Count);
        var started = time.GetTimestamp();
        var result = await applier.ApplyAsync(batch.Entries, position, batch.NextPosition);
        metrics.ApplyDuration(time.GetElapsedTime(started));
        activity?.SetTag("recsys.events.applied", result.EventsApplied);
        activity?.SetTag("recsys.events.duplicates", result.Duplicates);
        return result;
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Information, Message = "Stream processor starting at log position {Position} (tail {Tail})")]
    private static partial void LogStarting(ILogger logger, string position, long tail);

    [LoggerMessage(EventId = 201, Level = LogLevel.Warning, Message = "Stream processor position moved under it ({Expected} expected, {Found} found): the online store was reset, replaying")]
    private static partial void LogPositionMoved(ILogger logger, string expected, string found);

    [LoggerMessage(EventId = 202, Level = LogLevel.Error, Message = "Stream processor failed at log position {Position}; retrying")]
    private static partial void LogFailed(ILogger logger, long position, Exception exception);

    [LoggerMessage(EventId = 203, Level = LogLevel.Information, Message = "Stream processor disabled by configuration")]
    private static partial void LogDisabled(ILogger logger);
}
