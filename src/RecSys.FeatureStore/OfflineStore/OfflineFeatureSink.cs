using System.Threading.Channels;
using Microsoft.Extensions.Options;
using RecSys.FeatureStore.Telemetry;

namespace RecSys.FeatureStore.OfflineStore;

/// <summary>Where the stream processor hands the values it wrote online, for the offline store.</summary>
public interface IOfflineFeatureSink
{
    /// <summary>Queues the rows without waiting; false (and the rows counted as dropped) when the queue is full.</summary>
    bool Append(IEnumerable<FeatureRow> rows);
}

/// <summary>
/// The <see cref="IOfflineFeatureSink"/>: a bounded queue of batches drained by a background flusher that writes a file
/// per event date when <see cref="OfflineStoreOptions.RowGroupSize"/> rows are buffered or
/// <see cref="OfflineStoreOptions.FlushInterval"/> passed since the oldest buffered row, and on stop.
/// </summary>
public sealed partial class OfflineFeatureSink : BackgroundService, IOfflineFeatureSink
{
    private readonly Channel<FeatureRow[]> _queue;
    private readonly IOfflineFeatureStore _store;
    private readonly FeatureStoreTelemetry _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger<OfflineFeatureSink> _logger;
    private readonly int _rowGroupSize;
    private readonly TimeSpan _flushInterval;

    public OfflineFeatureSink(
        IOfflineFeatureStore store,
        FeatureStoreTelemetry metrics,
        IOptions<OfflineStoreOptions> options,
        TimeProvider time,
        ILogger<OfflineFeatureSink> logger)
    {
        _store = store;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        _rowGroupSize = options.Value.RowGroupSize;
        _flushInterval = options.Value.FlushInterval;
        _queue = Channel.CreateBounded<FeatureRow[]>(new BoundedChannelOptions(options.Value.SinkCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
    }

    public bool Append(IEnumerable<FeatureRow> rows)
    {
        var batch = rows.ToArray();
        if (batch.Length == 0)
        {
            return true;
        }

        if (_queue.Writer.TryWrite(batch))
        {
            return true;
        }

        _metrics.OfflineRowsDropped(batch.Length);
        LogDropped(_logger, batch.Length);
        return false;
    }

    /// <summary>Writes everything queued so far (used on stop and by tests).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        var buffer = new List<FeatureRow>();
        while (_queue.Reader.TryRead(out var batch))
        {
            buffer.AddRange(batch);
        }

        await WriteAsync(buffer, cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await FlushAsync(CancellationToken.None);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var buffer = new List<FeatureRow>();
        long? oldest = null;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var wait = oldest is { } since ? _flushInterval - _time.GetElapsedTime(since) : Timeout.InfiniteTimeSpan;
                if (wait != Timeout.InfiniteTimeSpan && wait <= TimeSpan.Zero)
                {
                    await WriteAsync(buffer, stoppingToken);
                    oldest = null;
                    continue;
                }

                // The flush deadline runs on the injected clock.
                using var deadline = new CancellationTokenSource(wait, _time);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, deadline.Token);

                bool more;
                try
                {
                    more = await _queue.Reader.WaitToReadAsync(timeout.Token);
                }
                catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
                {
                    continue;
                }

                if (!more)
                {
                    break;
                }

                while (buffer.Count < _rowGroupSize && _queue.Reader.TryRead(out var batch))
                {
                    oldest ??= _time.GetTimestamp();
                    buffer.AddRange(batch);
                }

                if (buffer.Count >= _rowGroupSize)
                {
                    await WriteAsync(buffer, stoppingToken);
                    oldest = null;
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                // The rows stay buffered and are retried at the next flush.
                LogFlushFailed(_logger, buffer.Count, ex);
                await Task.Delay(TimeSpan.FromSeconds(1), _time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }

        await WriteAsync(buffer, CancellationToken.None);
    }

    private async Task WriteAsync(List<FeatureRow> buffer, CancellationToken cancellationToken)
    {
        if (buffer.Count == 0)
        {
            return;
        }

        var files = await _store.WriteAsync(buffer, cancellationToken);
        _metrics.OfflineRowsWritten(buffer.Count, files.Count);
        buffer.Clear();
    }

    [LoggerMessage(EventId = 600, Level = LogLevel.Warning, Message = "Offline sink full: dropped {Rows} feature rows (a backfill restores them)")]
    private static partial void LogDropped(ILogger logger, int rows);

    [LoggerMessage(EventId = 601, Level = LogLevel.Error, Message = "Offline sink failed to write {Rows} buffered rows; retrying")]
    private static partial void LogFlushFailed(ILogger logger, int rows, Exception exception);
}
