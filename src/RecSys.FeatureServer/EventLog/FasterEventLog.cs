using FASTER.core;
using Microsoft.Extensions.Options;

namespace RecSys.FeatureServer.EventLog;

/// <summary>
/// The embedded <see cref="IEventLog"/>: a FASTER <see cref="FasterLog"/> in the data directory. An append is acknowledged
/// after <see cref="FasterLog.CommitAsync(CancellationToken)"/>, so a crash loses nothing acknowledged; reopening recovers
/// the committed prefix. Concurrent appends share commits (group commit).
/// </summary>
public sealed partial class FasterEventLog : IEventLog, IDisposable
{
    private readonly IDevice _device;
    private readonly FasterLog _log;
    private readonly SemaphoreSlim _readLock = new(1, 1);
    private readonly ILogger<FasterEventLog> _logger;
    private FasterLogScanIterator? _iterator;
    private long _iteratorNext = -1;
    private bool _disposed;

    public FasterEventLog(string directory, ILogger<FasterEventLog> logger)
    {
        _logger = logger;
        Directory = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(Directory);
        _device = Devices.CreateLogDevice(Path.Combine(Directory, "events.log"), recoverDevice: true);
        _log = new FasterLog(new FasterLogSettings
        {
            LogDevice = _device,
            LogCommitDir = Path.Combine(Directory, "commits"),
            PageSizeBits = 22,
            MemorySizeBits = 26,
            SegmentSizeBits = 30,
        });
        LogOpened(_logger, Directory, _log.BeginAddress, _log.CommittedUntilAddress);
    }

    /// <summary>Opens the log in the configured data directory (relative to the content root).</summary>
    public FasterEventLog(IOptions<FeatureServerOptions> options, IHostEnvironment environment, ILogger<FasterEventLog> logger)
        : this(ResolveDirectory(options.Value.DataDirectory, environment.ContentRootPath), logger)
    {
    }

    public string Directory { get; }

    public long TailPosition => _log.CommittedUntilAddress;

    public long BeginPosition => _log.BeginAddress;

    public static string ResolveDirectory(string configured, string contentRoot) =>
        Path.IsPathRooted(configured) ? configured : Path.Combine(contentRoot, configured);

    public async ValueTask<long> AppendAsync(IReadOnlyList<LogRecord> records, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (records.Count == 0)
        {
            return _log.CommittedUntilAddress;
        }

        var end = 0L;
        foreach (var record in records)
        {
            var bytes = LogRecordSerializer.Serialize(record);
            // Enqueue blocks only while the in-memory log is full and must flush; it never waits for a commit.
            _log.Enqueue(bytes);
            end = _log.TailAddress;
        }

        await _log.CommitAsync(cancellationToken);
        return end;
    }

    public async ValueTask<LogBatch> ReadAsync(LogPosition fromPosition, int maxRecords, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRecords);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (fromPosition.PartitionCount > 1 && !fromPosition.Equals(LogPosition.FromInt64(fromPosition[0])))
        {
            throw new ArgumentException($"The embedded log has one partition; {fromPosition} names several.", nameof(fromPosition));
        }

        await _readLock.WaitAsync(cancellationToken);
        try
        {
            var start = Math.Max(fromPosition[0], _log.BeginAddress);
            if (_iterator is null || _iteratorNext != start)
            {
                _iterator?.Dispose();
                _iterator = _log.Scan(start, long.MaxValue);
                _iteratorNext = start;
            }

            var entries = new List<LogEntry>(Math.Min(maxRecords, 1024));
            var next = start;
            while (true)
            {
                while (entries.Count < maxRecords
                    && _iterator.GetNext(out byte[] bytes, out var length, out var current, out var nextAddress))
                {
                    next = nextAddress;
                    try
                    {
                        entries.Add(new LogEntry(current, nextAddress, LogRecordSerializer.Deserialize(bytes.AsSpan(0, length))));
                    }
                    catch (System.Text.Json.JsonException ex)
                    {
                        LogUnreadableRecord(_logger, current, ex);
                    }
                }

                _iteratorNext = next;
                if (entries.Count > 0 || next != start)
                {
                    return new LogBatch(entries, next);
                }

                if (!await _iterator.WaitAsync(cancellationToken))
                {
                    return new LogBatch(entries, next);
                }
            }
        }
        finally
        {
            _readLock.Release();
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _iterator?.Dispose();
        _log.Dispose();
        _device.Dispose();
        _readLock.Dispose();
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Event log opened in {Directory}: begin {Begin}, committed until {Committed}")]
    private static partial void LogOpened(ILogger logger, string directory, long begin, long committed);

    [LoggerMessage(EventId = 101, Level = LogLevel.Error, Message = "Skipping an unreadable log record at {Position}")]
    private static partial void LogUnreadableRecord(ILogger logger, long position, Exception exception);
}
