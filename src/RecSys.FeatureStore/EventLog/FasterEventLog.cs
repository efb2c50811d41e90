using System.Collections.Concurrent;
using FASTER.core;
using Microsoft.Extensions.Options;

namespace RecSys.FeatureStore.EventLog;

/// <summary>
/// The embedded <see cref="IEventLog"/>: a FASTER <see cref="FasterLog"/> in the data directory. An append is acknowledged
/// after <see cref="FasterLog.CommitAsync(CancellationToken)"/>, so a crash loses nothing acknowledged; reopening recovers
/// the committed prefix. Concurrent appends share commits (group commit). Every reader has its own scan iterator.
/// </summary>
public sealed partial class FasterEventLog : IEventLog, IDisposable
{
    // A read stops within a moment once cancelled; the wait is bounded all the same, as it runs in Dispose.
    private static readonly TimeSpan ReaderClosePatience = TimeSpan.FromSeconds(10);
    private readonly IDevice _device;
    private readonly FasterLog _log;
    private readonly ILogger<FasterEventLog> _logger;
    private readonly ConcurrentDictionary<Reader, byte> _readers = new();
    private readonly Reader _defaultReader;
    private volatile bool _disposed;

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
        _defaultReader = new Reader(this);
        LogOpened(_logger, Directory, _log.BeginAddress, _log.CommittedUntilAddress);
    }

    /// <summary>Opens the log in the configured data directory (relative to the content root).</summary>
    public FasterEventLog(IOptions<FeatureStoreOptions> options, IHostEnvironment environment, ILogger<FasterEventLog> logger)
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

    public ValueTask<LogBatch> ReadAsync(LogPosition fromPosition, int maxRecords, CancellationToken cancellationToken) =>
        _defaultReader.ReadAsync(fromPosition, maxRecords, cancellationToken);

    public IEventLogReader OpenReader()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var reader = new Reader(this);
        if (_disposed)
        {
            // Dispose ran between the check and the registration and may not have seen this reader.
            reader.Dispose();
            throw new ObjectDisposedException(nameof(FasterEventLog));
        }

        return reader;
    }

    public ValueTask<LogPosition> GetEndPositionAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return ValueTask.FromResult(LogPosition.FromInt64(_log.CommittedUntilAddress));
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        // The readers' iterators must stop before the log they scan goes away.
        foreach (var reader in _readers.Keys)
        {
            reader.Close(ReaderClosePatience);
        }

        _log.Dispose();
        _device.Dispose();
    }

    /// <summary>A cursor with its own scan iterator, kept open while reads continue where the previous one ended.</summary>
    private sealed class Reader : EventLogReaderBase
    {
        private readonly FasterEventLog _owner;
        private FasterLogScanIterator? _iterator;
        private long _iteratorNext = -1;

        public Reader(FasterEventLog owner)
        {
            _owner = owner;
            owner._readers[this] = 0;
        }

        protected override void Validate(LogPosition fromPosition)
        {
            if (fromPosition.PartitionCount > 1 && !fromPosition.Equals(LogPosition.FromInt64(fromPosition[0])))
            {
                throw new ArgumentException($"The embedded log has one partition; {fromPosition} names several.", nameof(fromPosition));
            }
        }

        protected override ValueTask<LogBatch> ReadInTurnAsync(LogPosition fromPosition, int maxRecords, CancellationToken cancellationToken) =>
            ReadInTurnAsync(fromPosition[0], maxRecords, cancellationToken);

        protected override void ReleaseCursor()
        {
            _iterator?.Dispose();
            _iterator = null;
            _owner._readers.TryRemove(this, out _);
        }

        private async ValueTask<LogBatch> ReadInTurnAsync(long from, int maxRecords, CancellationToken cancellationToken)
        {
            var log = _owner._log;
            var start = Math.Max(from, log.BeginAddress);
            if (_iterator is null || _iteratorNext != start)
            {
                _iterator?.Dispose();
                _iterator = log.Scan(start, long.MaxValue);
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
                        LogUnreadableRecord(_owner._logger, current, ex);
                    }
                }

                _iteratorNext = next;
                // Compared with the requested position, not the clamped start: a position before the log's begin moves up
                // to it at once, so a reader from 0 reaches the end of a log that holds nothing.
                if (entries.Count > 0 || next != from)
                {
                    return new LogBatch(entries, next);
                }

                if (!await _iterator.WaitAsync(cancellationToken).ConfigureAwait(false))
                {
                    // The iterator never ends on its own (its end is long.MaxValue): the log was disposed.
                    throw new ObjectDisposedException(nameof(FasterEventLog), "The log was closed during the read.");
                }
            }
        }
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Event log opened in {Directory}: begin {Begin}, committed until {Committed}")]
    private static partial void LogOpened(ILogger logger, string directory, long begin, long committed);

    [LoggerMessage(EventId = 101, Level = LogLevel.Error, Message = "Skipping an unreadable log record at {Position}")]
    private static partial void LogUnreadableRecord(ILogger logger, long position, Exception exception);
}
