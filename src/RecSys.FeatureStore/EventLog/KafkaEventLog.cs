using System.Collections.Concurrent;
using Confluent.Kafka;
using Microsoft.Extensions.Options;

namespace RecSys.FeatureStore.EventLog;

/// <summary>
/// The Kafka <see cref="IEventLog"/>: one topic, events keyed by user id and item upserts by item id, so the records of
/// one user (one item) stay in order in their partition. The producer is idempotent with <c>acks=all</c>, and an append
/// returns only after the delivery reports of all its records (any failure fails the append: resending is safe, events
/// are deduplicated by id downstream). Every reader has its own consumer that assigns the partitions explicitly at the
/// offsets of the given <see cref="LogPosition"/> (no group membership, no rebalancing, no committed offsets): the
/// reader's committed position is the one its user stores (the stream processor in the online store, after applying),
/// so nothing is skipped and a redelivery is absorbed by the dedupe markers.
/// </summary>
public sealed partial class KafkaEventLog : IEventLog, IDisposable
{
    // A read stops within a poll interval once cancelled; the wait is bounded all the same, as it runs in Dispose.
    private static readonly TimeSpan ReaderClosePatience = TimeSpan.FromSeconds(10);
    private readonly KafkaEventLogOptions _options;
    private readonly ILogger<KafkaEventLog> _logger;
    private readonly IProducer<string, byte[]> _producer;
    // Only for watermark queries; reading is done by the readers' own consumers.
    private readonly IConsumer<string, byte[]> _watermarks;
    private readonly ConcurrentDictionary<Reader, byte> _readers = new();
    private readonly Reader _defaultReader;
    private readonly long[] _acked;
    private readonly long[] _high;
    private volatile bool _disposed;

    public KafkaEventLog(KafkaEventLogOptions options, ILogger<KafkaEventLog> logger)
    {
        _options = options;
        _logger = logger;
        _producer = new ProducerBuilder<string, byte[]>(new ProducerConfig
        {
            BootstrapServers = options.BootstrapServers,
            Acks = Acks.All,
            EnableIdempotence = true,
            LingerMs = options.Linger.TotalMilliseconds,
            ClientId = "recsys-featureserver",
        })
            .SetLogHandler((_, m) => LogClient(_logger, "producer", m.Facility, m.Message))
            .Build();
        _watermarks = CreateConsumer("watermarks");
        try
        {
            using var admin = new DependentAdminClientBuilder(_producer.Handle).Build();
            var topic = admin.GetMetadata(options.Topic, options.RequestTimeout).Topics.SingleOrDefault(t => t.Topic == options.Topic);
            if (topic is null || topic.Error.IsError || topic.Partitions.Count == 0)
            {
                throw new InvalidOperationException(
                    $"Kafka topic '{options.Topic}' is not available at {options.BootstrapServers}: {topic?.Error.Reason ?? "no metadata"}.");
            }

            Partitions = topic.Partitions.Max(p => p.PartitionId) + 1;
            _acked = new long[Partitions];
            _high = new long[Partitions];
            QueryHighWatermarks();
            _defaultReader = new Reader(this);
        }
        catch
        {
            _producer.Dispose();
            _watermarks.Dispose();
            throw;
        }

        LogOpened(_logger, options.Topic, options.BootstrapServers, Partitions, TailPosition);
    }

    /// <summary>Connects with the bound options.</summary>
    public KafkaEventLog(IOptions<KafkaEventLogOptions> options, ILogger<KafkaEventLog> logger)
        : this(options.Value, logger)
    {
    }

    /// <summary>Number of partitions of the topic (read at start).</summary>
    public int Partitions { get; }

    public string Topic => _options.Topic;

    /// <summary>
    /// The larger of the sums of the offsets acknowledged to this producer and of the high watermarks this instance last
    /// saw: records of other producers count only once a read or <see cref="GetEndPositionAsync"/> saw them.
    /// </summary>
    public long TailPosition
    {
        get
        {
            long acked = 0, high = 0;
            for (var p = 0; p < Partitions; p++)
            {
                acked += Interlocked.Read(ref _acked[p]);
                high += Interlocked.Read(ref _high[p]);
            }

            return Math.Max(acked, high);
        }
    }

    public async ValueTask<long> AppendAsync(IReadOnlyList<LogRecord> records, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (records.Count == 0)
        {
            return TailPosition;
        }

        var batch = new PendingBatch(records.Count, this);
        foreach (var record in records)
        {
            var message = new Message<string, byte[]> { Key = KeyOf(record), Value = LogRecordSerializer.Serialize(record) };
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                try
                {
                    _producer.Produce(_options.Topic, message, batch.Handler);
                    break;
                }
                catch (ProduceException<string, byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
                {
                    // The local queue drains as delivery reports arrive.
                    await Task.Delay(1, cancellationToken);
                }
            }
        }

        await batch.Completion.WaitAsync(cancellationToken);
        return TailPosition;
    }

    /// <summary>The partition key of a record: the user of an event, the item of an upsert.</summary>
    public static string KeyOf(LogRecord record) => record switch
    {
        EventRecord { Event: var e } => e.UserId,
        ItemUpsertRecord { Item: var item } => item.Id,
        _ => throw new ArgumentException($"Unknown log record {record.GetType().Name}.", nameof(record)),
    };

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
            throw new ObjectDisposedException(nameof(KafkaEventLog));
        }

        return reader;
    }

    /// <summary>The high watermark of every partition, queried from the brokers now.</summary>
    public async ValueTask<LogPosition> GetEndPositionAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        // The watermark requests block: keep them off the caller's thread.
        return await Task.Run(() => LogPosition.FromOffsets(QueryHighWatermarks()), cancellationToken);
    }

    /// <summary>Waits for the topic's metadata (the health check).</summary>
    public bool CheckTopic(out string description)
    {
        using var admin = new DependentAdminClientBuilder(_producer.Handle).Build();
        var topic = admin.GetMetadata(_options.Topic, _options.RequestTimeout).Topics.SingleOrDefault(t => t.Topic == _options.Topic);
        if (topic is null || topic.Error.IsError)
        {
            description = $"topic {_options.Topic}: {topic?.Error.Reason ?? "no metadata"}";
            return false;
        }

        var leaderless = topic.Partitions.Count(p => p.Leader < 0);
        description = $"topic {_options.Topic}: {topic.Partitions.Count} partitions, {leaderless} without leader, tail {TailPosition}";
        return leaderless == 0;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        try
        {
            _producer.Flush(_options.RequestTimeout);
        }
        finally
        {
            _producer.Dispose();
            foreach (var reader in _readers.Keys)
            {
                reader.Close(ReaderClosePatience);
            }

            _watermarks.Dispose();
        }
    }

    private IConsumer<string, byte[]> CreateConsumer(string role) =>
        new ConsumerBuilder<string, byte[]>(new ConsumerConfig
        {
            BootstrapServers = _options.BootstrapServers,
            // Required by the client; the consumers never join the group nor commit to it (they only assign).
            GroupId = _options.ConsumerGroup,
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            IsolationLevel = IsolationLevel.ReadCommitted,
            // A partition's end is reported, so a reader moves past offsets that hold no record (control records).
            EnablePartitionEof = true,
            ClientId = "recsys-featureserver",
        })
            .SetLogHandler((_, m) => LogClient(_logger, role, m.Facility, m.Message))
            .Build();

    private long[] QueryHighWatermarks()
    {
        var high = new long[Partitions];
        for (var p = 0; p < Partitions; p++)
        {
            high[p] = _watermarks.QueryWatermarkOffsets(new TopicPartition(_options.Topic, p), _options.RequestTimeout).High.Value;
            InterlockedMax(ref _high[p], high[p]);
        }

        return high;
    }

    private static void InterlockedMax(ref long target, long value)
    {
        var current = Interlocked.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    /// <summary>A cursor with its own consumer, kept assigned while reads continue where the previous one ended.</summary>
    private sealed class Reader : EventLogReaderBase
    {
        private readonly KafkaEventLog _owner;
        private readonly IConsumer<string, byte[]> _consumer;
        private LogPosition? _consumerNext;

        public Reader(KafkaEventLog owner)
        {
            _owner = owner;
            _consumer = owner.CreateConsumer("reader");
            owner._readers[this] = 0;
        }

        private int Partitions => _owner.Partitions;

        protected override void Validate(LogPosition fromPosition)
        {
            if (fromPosition.PartitionCount > Partitions)
            {
                throw new ArgumentException(
                    $"Position {fromPosition} names more partitions than topic '{_owner.Topic}' has ({Partitions}).", nameof(fromPosition));
            }

            if (Partitions > 1 && fromPosition.PartitionCount == 1 && !fromPosition.IsStart)
            {
                throw new ArgumentException(
                    $"Position {fromPosition} is a single number; topic '{_owner.Topic}' has {Partitions} partitions: resume from a LogBatch.NextPosition.",
                    nameof(fromPosition));
            }
        }

        protected override void ReleaseCursor()
        {
            try
            {
                _consumer.Close();
            }
            finally
            {
                _consumer.Dispose();
                _owner._readers.TryRemove(this, out _);
            }
        }

        protected override async ValueTask<LogBatch> ReadInTurnAsync(LogPosition fromPosition, int maxRecords, CancellationToken cancellationToken)
        {
            var topic = _owner.Topic;
            var next = fromPosition.ToOffsets(Partitions);
            if (_consumerNext is not { } assigned || !assigned.Equals(fromPosition))
            {
                _consumerNext = null;
                _consumer.Assign(Enumerable.Range(0, Partitions).Select(p =>
                    new TopicPartitionOffset(topic, p, next[p] == 0 ? Offset.Beginning : new Offset(next[p]))));
            }

            var entries = new List<LogEntry>(Math.Min(maxRecords, 1024));
            try
            {
                // Consume blocks: keep it off the caller's thread.
                await Task.Run(() => ConsumeInto(entries, next, maxRecords, cancellationToken), cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                // Messages may have been taken from the consumer and not returned: reassign on the next read.
                _consumerNext = null;
                throw;
            }

            var nextPosition = LogPosition.FromOffsets(next);
            _consumerNext = nextPosition;
            for (var p = 0; p < Partitions; p++)
            {
                var high = _consumer.GetWatermarkOffsets(new TopicPartition(topic, p)).High;
                if (high != Offset.Unset)
                {
                    InterlockedMax(ref _owner._high[p], high.Value);
                }

                InterlockedMax(ref _owner._high[p], next[p]);
            }

            return new LogBatch(entries, nextPosition);
        }

        private void ConsumeInto(List<LogEntry> entries, long[] next, int maxRecords, CancellationToken cancellationToken)
        {
            var from = (long[])next.Clone();
            // Waits for a record, or for a partition's end past the position (offsets without records).
            while (entries.Count == 0 && next.AsSpan().SequenceEqual(from))
            {
                // Blocks until a message or an end arrives; throws OperationCanceledException when cancelled.
                Add(_consumer.Consume(cancellationToken), entries, next);
            }

            while (entries.Count < maxRecords && _consumer.Consume(TimeSpan.Zero) is { } result)
            {
                Add(result, entries, next);
            }
        }

        private void Add(ConsumeResult<string, byte[]>? result, List<LogEntry> entries, long[] next)
        {
            if (result is null)
            {
                return;
            }

            var partition = result.Partition.Value;
            var offset = result.Offset.Value;
            if (result.IsPartitionEOF)
            {
                // The offset the next record of the partition will get: everything before it was delivered or skipped.
                next[partition] = Math.Max(next[partition], offset);
                return;
            }

            next[partition] = offset + 1;
            if (result.Message.Value is not { } value)
            {
                return;
            }

            try
            {
                entries.Add(new LogEntry(offset, offset + 1, LogRecordSerializer.Deserialize(value)) { Partition = partition });
            }
            catch (System.Text.Json.JsonException ex)
            {
                LogUnreadableRecord(_owner._logger, partition, offset, ex);
            }
        }
    }

    /// <summary>Counts the delivery reports of one append.</summary>
    private sealed class PendingBatch
    {
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly KafkaEventLog _log;
        private int _remaining;
        private Error? _error;

        public PendingBatch(int count, KafkaEventLog log)
        {
            _remaining = count;
            _log = log;
            Handler = OnDelivered;
        }

        public Action<DeliveryReport<string, byte[]>> Handler { get; }

        public Task Completion => _done.Task;

        private void OnDelivered(DeliveryReport<string, byte[]> report)
        {
            if (report.Error.IsError)
            {
                Interlocked.CompareExchange(ref _error, report.Error, null);
            }
            else if (report.Status == PersistenceStatus.Persisted)
            {
                InterlockedMax(ref _log._acked[report.Partition.Value], report.Offset.Value + 1);
            }

            if (Interlocked.Decrement(ref _remaining) == 0)
            {
                if (_error is { } error)
                {
                    _done.TrySetException(new KafkaException(error));
                }
                else
                {
                    _done.TrySetResult();
                }
            }
        }
    }

    [LoggerMessage(EventId = 110, Level = LogLevel.Information, Message = "Kafka event log on topic {Topic} at {Bootstrap}: {Partitions} partitions, tail {Tail}")]
    private static partial void LogOpened(ILogger logger, string topic, string bootstrap, int partitions, long tail);

    [LoggerMessage(EventId = 111, Level = LogLevel.Error, Message = "Skipping an unreadable Kafka record at partition {Partition} offset {Offset}")]
    private static partial void LogUnreadableRecord(ILogger logger, int partition, long offset, Exception exception);

    [LoggerMessage(EventId = 112, Level = LogLevel.Debug, Message = "librdkafka {Client} {Facility}: {Message}")]
    private static partial void LogClient(ILogger logger, string client, string facility, string message);
}
