using Microsoft.Extensions.Options;
using StackExchange.Redis;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.OfflineStore;
using RecSys.FeatureStore.Telemetry;

namespace RecSys.FeatureStore.Streaming;

/// <summary>
/// Tails the event log and applies it to the online store in order. The position (a <see cref="LogPosition"/>: one offset
/// per partition) lives in the online store itself (<see cref="Keys.OnlineKeys.ProcessorPosition"/>) and moves
/// only after a batch is applied, by a compare-and-set, so a crash at any point redelivers from the last committed
/// position (the applier's per-event dedupe markers make that harmless) and never skips a record; a lost store loses
/// its position too and is rebuilt from the start. The Kafka log does not commit to its consumer group: this stored
/// position is the committed position.
/// One processor writes at a time: an instance runs only while it holds the lease (<see cref="ProcessorKeys.Lease"/>,
/// renewed every third of its length; the others stand by), and the store itself refuses the scripts of a writer whose fencing token
/// is no longer the current one, so a predecessor's queued scripts or a paused instance that lost its lease cannot
/// interleave with the new writer.
/// </summary>
public sealed partial class StreamProcessor(
    IEventLog log,
    OnlineApplier applier,
    ProcessorState state,
    FeatureStoreTelemetry metrics,
    IOptions<FeatureStoreOptions> options,
    TimeProvider time,
    ILogger<StreamProcessor> logger,
    OfflineCapture? offlineCapture = null) : BackgroundService
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ReleaseTimeout = TimeSpan.FromSeconds(2);

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
            catch (ProcessorFencedException ex)
            {
                state.Active = false;
                LogFenced(logger, ex.Message);
            }
            catch (Exception ex)
            {
                LogFailed(logger, state.Position, ex);
                await Task.Delay(RetryDelay, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    /// <summary>
    /// Waits for the lease, then applies until cancelled (releasing the lease) or fenced; resumes from the stored position.
    /// </summary>
    internal async Task RunAsync(CancellationToken cancellationToken)
    {
        await AcquireLeaseAsync(cancellationToken);

        // The fencing token is taken before the renewals start: they renew only under the current token.
        var start = await applier.InitializeAsync();
        using var leaseLost = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var renewer = KeepLeaseAsync(leaseLost);
        try
        {
            await ApplyLoopAsync(start, leaseLost.Token);
        }
        catch (OperationCanceledException) when (leaseLost.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new ProcessorFencedException("The processor lease was taken by another instance.");
        }
        finally
        {
            await leaseLost.CancelAsync();
            await renewer;
            if (cancellationToken.IsCancellationRequested)
            {
                // A graceful stop: hand over at once rather than after the lease expires.
                await ReleaseLeaseAsync();
            }
        }
    }

    /// <summary>Renews the lease every third of its length (also while idle); cancels <paramref name="lost"/> when it is gone.</summary>
    private async Task KeepLeaseAsync(CancellationTokenSource lost)
    {
        var every = options.Value.ProcessorLease / 3;
        try
        {
            while (!lost.IsCancellationRequested)
            {
                await Task.Delay(every, time, lost.Token);
                // Cancellable: a renewal stuck on a broken connection must not hold up the processor's exit.
                if (!await applier.RenewLeaseAsync().WaitAsync(lost.Token))
                {
                    await lost.CancelAsync();
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            // The store is unreachable: the apply loop meets the same failure and restarts.
        }
    }

    private async Task AcquireLeaseAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        var owner = o.ProcessorInstanceId ?? FeatureStoreOptions.DefaultInstanceId;
        string? lastHolder = null;
        while (true)
        {
            var (acquired, holder, remaining) = await applier.TryAcquireLeaseAsync(owner, o.ProcessorLease);
            if (acquired)
            {
                state.Active = true;
                LogLeaseAcquired(logger, owner);
                return;
            }

            state.Active = false;
            if (holder != lastHolder)
            {
                LogStandingBy(logger, owner, holder ?? "?", remaining.TotalMilliseconds);
                lastHolder = holder;
            }

            // Check again well within the holder's lease, so a takeover after its expiry is quick.
            var wait = TimeSpan.FromMilliseconds(Math.Clamp(remaining.TotalMilliseconds, 50, o.ProcessorLease.TotalMilliseconds / 4));
            await Task.Delay(wait, time, cancellationToken);
        }
    }

    private async Task ReleaseLeaseAsync()
    {
        state.Active = false;
        try
        {
            // Bounded: on a broken connection the command would wait in the client's backlog; the lease expires anyway.
            await applier.ReleaseLeaseAsync().WaitAsync(ReleaseTimeout);
        }
        catch (Exception ex) when (ex is RedisException or ObjectDisposedException or TimeoutException)
        {
            // The lease expires by itself.
        }
    }

    private async Task ApplyLoopAsync(LogPosition position, CancellationToken cancellationToken)
    {
        state.Position = position;
        LogStarting(logger, position.ToString(), log.TailPosition);
        var batchSize = options.Value.ApplyBatchSize;

        // A reader of its own: a backfill reading the same log meanwhile neither waits for it nor moves it.
        using var reader = log.OpenReader();
        while (!cancellationToken.IsCancellationRequested)
        {
            var batch = await reader.ReadAsync(position, batchSize, cancellationToken);
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
        using var activity = FeatureStoreTelemetry.ActivitySource.StartActivity("apply");
        activity?.SetTag("recsys.log.position", position.ToString());
        activity?.SetTag("recsys.log.records", batch.Entries.Count);
        var started = time.GetTimestamp();
        var result = await applier.ApplyAsync(batch.Entries, position, batch.NextPosition);
        metrics.BatchApplied(time.GetElapsedTime(started));
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

    [LoggerMessage(EventId = 205, Level = LogLevel.Information, Message = "Stream processor {Owner} holds the lease and applies")]
    private static partial void LogLeaseAcquired(ILogger logger, string owner);

    [LoggerMessage(EventId = 206, Level = LogLevel.Information, Message = "Stream processor {Owner} stands by: {Holder} holds the lease ({RemainingMs} ms left)")]
    private static partial void LogStandingBy(ILogger logger, string owner, string holder, double remainingMs);

    [LoggerMessage(EventId = 207, Level = LogLevel.Warning, Message = "Stream processor fenced off by a newer writer; stopping its writes and waiting for the lease: {Reason}")]
    private static partial void LogFenced(ILogger logger, string reason);
}
