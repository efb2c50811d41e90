using Confluent.Kafka;
using RecSys.Core.Domain;
using RecSys.FeatureStore.EventLog;
using RecSys.TestSupport;

namespace RecSys.FeatureStore.Tests.EventLog;

/// <summary>
/// The behaviours every <see cref="IEventLog"/> must have, run against each implementation by a subclass that says how
/// to open (and reopen) one log. Records are events of a few users with a per-user sequence in their ids, so the order
/// per key can be checked on any partitioning.
/// </summary>
public abstract class EventLogContract : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private IEventLog? _log;

    /// <summary>Opens the log under test (a second call after <see cref="Close"/> reopens the same log).</summary>
    protected abstract IEventLog OpenLog();

    protected IEventLog Log => _log ??= OpenLog();

    /// <summary>Closes the current instance (flushes, releases) and opens the same log again.</summary>
    protected IEventLog Reopen()
    {
        Close();
        return Log;
    }

    protected void Close()
    {
        (_log as IDisposable)?.Dispose();
        _log = null;
    }

    public virtual void Dispose()
    {
        Close();
        GC.SuppressFinalize(this);
    }

    /// <summary>Events of <paramref name="users"/> users named <c>{prefix}u{n}</c>; ids <c>{user}-{sequence}</c>.</summary>
    protected static List<LogRecord> Events(int count, int users = 7, string prefix = "", int seed = 1)
    {
        var random = new Random(seed);
        var sequence = new int[users];
        var records = new List<LogRecord>(count);
        for (var i = 0; i < count; i++)
        {
            var u = random.Next(users);
            var user = $"{prefix}u{u}";
            records.Add(TestData.Event($"{user}-{sequence[u]++}", user, $"i{random.Next(50)}", EventType.Click, TestData.T0.AddSeconds(i)));
        }

        return records;
    }

    private static string Id(LogRecord record) => ((EventRecord)record).Event.EventId;

    /// <summary>Reads through the log's own reader from <paramref name="from"/> until <paramref name="count"/> records came back.</summary>
    protected static Task<(List<LogEntry> Entries, LogPosition Next)> ReadAsync(IEventLog log, LogPosition from, int count, int batch = 100) =>
        ReadAsync(log.ReadAsync, from, count, batch);

    /// <summary>Reads with <paramref name="reader"/> from <paramref name="from"/> until <paramref name="count"/> records came back.</summary>
    protected static Task<(List<LogEntry> Entries, LogPosition Next)> ReadAsync(IEventLogReader reader, LogPosition from, int count, int batch = 100) =>
        ReadAsync(reader.ReadAsync, from, count, batch);

    private static async Task<(List<LogEntry> Entries, LogPosition Next)> ReadAsync(
        Func<LogPosition, int, CancellationToken, ValueTask<LogBatch>> read, LogPosition from, int count, int batch)
    {
        using var cts = new CancellationTokenSource(Patience);
        var entries = new List<LogEntry>();
        var position = from;
        while (entries.Count < count)
        {
            var next = await read(position, Math.Min(batch, count - entries.Count), cts.Token);
            Assert.True(next.Entries.Count <= batch);
            entries.AddRange(next.Entries);
            position = next.NextPosition;
        }

        return (entries, position);
    }

    /// <summary>Reads with <paramref name="reader"/> from <paramref name="from"/> until every partition reached <paramref name="end"/>.</summary>
    protected static async Task<(List<LogEntry> Entries, LogPosition Next)> ReadToAsync(IEventLogReader reader, LogPosition from, LogPosition end)
    {
        using var cts = new CancellationTokenSource(Patience);
        var entries = new List<LogEntry>();
        var position = from;
        while (!position.IsAtOrPast(end))
        {
            var batch = await reader.ReadAsync(position, 100, cts.Token);
            Assert.True(batch.Entries.Count > 0 || !batch.NextPosition.Equals(position), $"a read from {position} neither returned records nor moved");
            entries.AddRange(batch.Entries);
            position = batch.NextPosition;
        }

        return (entries, position);
    }

    /// <summary>Each record once, and the records of every key in the order they were appended.</summary>
    protected static void AssertExactlyOnceInKeyOrder(IEnumerable<LogRecord> appended, IEnumerable<LogRecord> read)
    {
        var expected = appended.ToList();
        var actual = read.ToList();
        Assert.Equal(expected.Select(Id).Order(StringComparer.Ordinal), actual.Select(Id).Order(StringComparer.Ordinal));
        var expectedByKey = expected.GroupBy(KafkaEventLog.KeyOf).ToDictionary(g => g.Key, g => g.Select(Id).ToList());
        foreach (var group in actual.GroupBy(KafkaEventLog.KeyOf))
        {
            Assert.Equal(expectedByKey[group.Key], group.Select(Id).ToList());
        }
    }

    [Fact]
    public async Task Appended_records_are_durable_and_read_back_in_order_per_key_after_reopening()
    {
        var records = Events(230);
        await Log.AppendAsync(records[..100], CancellationToken.None);
        await Log.AppendAsync(records[100..], CancellationToken.None);
        var reopened = Reopen();
        var (entries, _) = await ReadAsync(reopened, LogPosition.Start, records.Count);
        AssertExactlyOnceInKeyOrder(records, entries.Select(e => e.Record));
        Assert.All(entries, e => Assert.True(e.Position < e.NextPosition));
    }

    [Fact]
    public async Task Reading_resumes_from_a_stored_position_after_reopening_without_skipping_or_repeating()
    {
        var records = Events(300, seed: 2);
        await Log.AppendAsync(records, CancellationToken.None);
        var (first, next) = await ReadAsync(Log, LogPosition.Start, 130, batch: 40);
        var stored = next.ToString();

        var reopened = Reopen();
        var (rest, _) = await ReadAsync(reopened, LogPosition.Parse(stored), records.Count - first.Count, batch: 40);
        AssertExactlyOnceInKeyOrder(records, first.Concat(rest).Select(e => e.Record));
    }

    [Fact]
    public async Task Reading_again_from_an_earlier_position_redelivers_the_same_records()
    {
        var records = Events(120, seed: 3);
        await Log.AppendAsync(records, CancellationToken.None);
        var (first, middle) = await ReadAsync(Log, LogPosition.Start, 50);
        var (rest, _) = await ReadAsync(Log, middle, 70);
        var (again, _) = await ReadAsync(Log, middle, 70);
        // The same records, in the same order per key (partitions may interleave differently).
        AssertExactlyOnceInKeyOrder(rest.Select(e => e.Record), again.Select(e => e.Record));
        AssertExactlyOnceInKeyOrder(records, first.Concat(rest).Select(e => e.Record));
    }

    [Fact]
    public async Task The_tail_position_is_at_or_past_every_appended_record()
    {
        var before = Log.TailPosition;
        var records = Events(90, seed: 4);
        var appended = await Log.AppendAsync(records[..40], CancellationToken.None);
        Assert.True(appended <= Log.TailPosition);
        Assert.True(Log.TailPosition > before);
        appended = await Log.AppendAsync(records[40..], CancellationToken.None);
        var tail = Log.TailPosition;
        Assert.True(appended <= tail);

        // Reading until the position reaches the tail yields every record, and then nothing is left to read.
        var (entries, next) = await ReadAsync(Log, LogPosition.Start, records.Count);
        Assert.Equal(tail, next.Ordinal);
        AssertExactlyOnceInKeyOrder(records, entries.Select(e => e.Record));
        Assert.Equal(tail, Reopen().TailPosition);
    }

    [Fact]
    public async Task A_read_at_the_end_waits_for_the_next_append()
    {
        var records = Events(10, seed: 5);
        await Log.AppendAsync(records, CancellationToken.None);
        var (_, end) = await ReadAsync(Log, LogPosition.Start, records.Count);
        var pending = Log.ReadAsync(end, 10, CancellationToken.None).AsTask();
        Assert.False(pending.IsCompleted);
        var late = TestData.Event("late", "u1", "i1", EventType.View, TestData.T0);
        await Log.AppendAsync([late], CancellationToken.None);
        var batch = await pending.WaitAsync(Patience);
        Assert.Equal(["late"], batch.Entries.Select(e => Id(e.Record)));
    }

    [Fact]
    public async Task A_read_at_the_end_is_cancellable_and_the_log_stays_readable()
    {
        var records = Events(5, seed: 6);
        await Log.AppendAsync(records, CancellationToken.None);
        var (_, end) = await ReadAsync(Log, LogPosition.Start, records.Count);
        using var cts = new CancellationTokenSource();
        var pending = Log.ReadAsync(end, 10, cts.Token).AsTask();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(Patience));

        var (all, _) = await ReadAsync(Log, LogPosition.Start, records.Count);
        AssertExactlyOnceInKeyOrder(records, all.Select(e => e.Record));
    }

    [Fact]
    public async Task A_large_batch_is_appended_in_one_call_and_read_back_whole()
    {
        var records = Events(20_000, users: 50, seed: 7);
        await Log.AppendAsync(records, CancellationToken.None);
        var (entries, _) = await ReadAsync(Log, LogPosition.Start, records.Count, batch: 4_096);
        AssertExactlyOnceInKeyOrder(records, entries.Select(e => e.Record));
    }

    [Fact]
    public async Task Concurrent_appenders_lose_nothing_and_keep_each_key_in_order()
    {
        const int appenders = 8;
        var streams = Enumerable.Range(0, appenders).Select(a => Events(400, users: 3, prefix: $"a{a}", seed: 10 + a)).ToList();
        var log = Log; // opened once, before the appenders share it
        await Task.WhenAll(streams.Select(stream => Task.Run(async () =>
        {
            for (var i = 0; i < stream.Count; i += 20)
            {
                await log.AppendAsync(stream.GetRange(i, 20), CancellationToken.None);
            }
        })));

        var all = streams.SelectMany(s => s).ToList();
        var (entries, _) = await ReadAsync(log, LogPosition.Start, all.Count, batch: 500);
        AssertExactlyOnceInKeyOrder(all, entries.Select(e => e.Record));
    }

    [Fact]
    public async Task Two_readers_at_different_positions_read_concurrently_and_each_gets_its_records_in_order()
    {
        var records = Events(600, seed: 30);
        await Log.AppendAsync(records, CancellationToken.None);
        using var first = Log.OpenReader();
        using var second = Log.OpenReader();
        var (head, middle) = await ReadAsync(first, LogPosition.Start, 250, batch: 50);

        // Small batches on two threads, so that the reads of the two positions overlap many times.
        var reads = await Task.WhenAll(
            Task.Run(() => ReadAsync(first, middle, records.Count - head.Count, batch: 7)),
            Task.Run(() => ReadAsync(second, LogPosition.Start, records.Count, batch: 7)));

        AssertExactlyOnceInKeyOrder(records, head.Concat(reads[0].Entries).Select(e => e.Record));
        AssertExactlyOnceInKeyOrder(records, reads[1].Entries.Select(e => e.Record));
        Assert.Equal(reads[0].Next, reads[1].Next);
    }

    [Fact]
    public async Task Reads_waiting_at_the_tail_do_not_delay_another_reader_of_older_records()
    {
        var records = Events(300, seed: 31);
        await Log.AppendAsync(records, CancellationToken.None);
        var (_, end) = await ReadAsync(Log, LogPosition.Start, records.Count);
        using var parkedReader = Log.OpenReader();
        using var cts = new CancellationTokenSource(Patience);
        // The live processor's situation (a read through the log itself) and an opened reader, both waiting at the tail.
        var parkedOnLog = Log.ReadAsync(end, 10, cts.Token).AsTask();
        var parkedOnReader = parkedReader.ReadAsync(end, 10, cts.Token).AsTask();

        using var reader = Log.OpenReader();
        var (older, next) = await ReadAsync(reader, LogPosition.Start, records.Count, batch: 64).WaitAsync(TimeSpan.FromSeconds(10));
        AssertExactlyOnceInKeyOrder(records, older.Select(e => e.Record));
        Assert.Equal(end, next);
        Assert.False(parkedOnLog.IsCompleted);
        Assert.False(parkedOnReader.IsCompleted);

        var late = TestData.Event("late", "u1", "i1", EventType.View, TestData.T0);
        await Log.AppendAsync([late], CancellationToken.None);
        Assert.Equal(["late"], (await parkedOnLog).Entries.Select(e => Id(e.Record)));
        Assert.Equal(["late"], (await parkedOnReader).Entries.Select(e => Id(e.Record)));
    }

    [Fact]
    public async Task The_end_position_is_the_next_position_after_reading_everything()
    {
        var records = Events(150, seed: 32);
        await Log.AppendAsync(records[..60], CancellationToken.None);
        await Log.AppendAsync(records[60..], CancellationToken.None);
        var end = await Log.GetEndPositionAsync(CancellationToken.None);
        Assert.Equal(Log.TailPosition, end.Ordinal);

        using var reader = Log.OpenReader();
        var (entries, next) = await ReadAsync(reader, LogPosition.Start, records.Count, batch: 40);
        Assert.Equal(end, next);
        AssertExactlyOnceInKeyOrder(records, entries.Select(e => e.Record));

        // Reading until the end position, rather than a known count, stops at the same place with the same records.
        using var second = Log.OpenReader();
        var (toEnd, stop) = await ReadToAsync(second, LogPosition.Start, end);
        Assert.Equal(end, stop);
        AssertExactlyOnceInKeyOrder(records, toEnd.Select(e => e.Record));
    }

    [Fact]
    public async Task A_reader_reaches_the_end_position_of_an_empty_log()
    {
        var end = await Log.GetEndPositionAsync(CancellationToken.None);
        using var reader = Log.OpenReader();
        var (entries, next) = await ReadToAsync(reader, LogPosition.Start, end);
        Assert.Empty(entries);
        Assert.True(next.IsAtOrPast(end));
    }

    [Fact]
    public async Task Disposing_a_reader_ends_its_waiting_read_and_leaves_the_log_readable()
    {
        var records = Events(20, seed: 33);
        await Log.AppendAsync(records, CancellationToken.None);
        var end = await Log.GetEndPositionAsync(CancellationToken.None);
        var reader = Log.OpenReader();
        var parked = reader.ReadAsync(end, 10, CancellationToken.None).AsTask();
        reader.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => parked.WaitAsync(Patience));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => reader.ReadAsync(LogPosition.Start, 10, CancellationToken.None).AsTask());

        var (all, _) = await ReadAsync(Log, LogPosition.Start, records.Count);
        AssertExactlyOnceInKeyOrder(records, all.Select(e => e.Record));
    }

    [Fact]
    public async Task Disposing_the_log_ends_the_waiting_reads_of_its_open_readers()
    {
        var log = Log;
        await log.AppendAsync(Events(5, seed: 34), CancellationToken.None);
        var end = await log.GetEndPositionAsync(CancellationToken.None);
        var reader = log.OpenReader();
        var pending = reader.ReadAsync(end, 10, CancellationToken.None).AsTask();
        Close();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pending.WaitAsync(Patience));
        Assert.Throws<ObjectDisposedException>(log.OpenReader);
        reader.Dispose();
    }

    [Fact]
    public async Task An_item_upsert_is_read_back_with_its_content()
    {
        var item = TestData.Item("i9", "c1", ["news", "film"], title: "Nine");
        await Log.AppendAsync([item], CancellationToken.None);
        var (entries, _) = await ReadAsync(Log, LogPosition.Start, 1);
        Assert.Equal(
            Convert.ToBase64String(LogRecordSerializer.Serialize(item)),
            Convert.ToBase64String(LogRecordSerializer.Serialize(Assert.Single(entries).Record)));
    }
}

/// <summary>The contract on the embedded FasterLog in a temporary folder.</summary>
public sealed class FasterEventLogContractTests : EventLogContract
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "recsys-log-contract-" + Guid.NewGuid().ToString("N"));

    protected override IEventLog OpenLog() => new FasterEventLog(_dir, Microsoft.Extensions.Logging.Abstractions.NullLogger<FasterEventLog>.Instance);

    public override void Dispose()
    {
        base.Dispose();
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }
}

/// <summary>One mock Kafka cluster for the Kafka contract tests.</summary>
public sealed class MockKafkaFixture : IDisposable
{
    public MockKafkaCluster Cluster { get; } = new();

    public void Dispose() => Cluster.Dispose();
}

/// <summary>The contract on Kafka through librdkafka's mock cluster over TCP: a 3-partition topic per test.</summary>
public sealed class KafkaEventLogContractTests : EventLogContract, IClassFixture<MockKafkaFixture>
{
    private readonly KafkaEventLogOptions _options;

    public KafkaEventLogContractTests(MockKafkaFixture fixture)
    {
        var topic = "events-" + Guid.NewGuid().ToString("N");
        fixture.Cluster.CreateTopic(topic, 3);
        _options = new KafkaEventLogOptions
        {
            BootstrapServers = fixture.Cluster.BootstrapServers,
            Topic = topic,
            ConsumerGroup = "group-" + topic,
            Linger = TimeSpan.FromMilliseconds(1),
        };
    }

    protected override IEventLog OpenLog() => new KafkaEventLog(_options, Microsoft.Extensions.Logging.Abstractions.NullLogger<KafkaEventLog>.Instance);

    [Fact]
    public async Task Events_of_one_user_share_a_partition_and_positions_name_every_partition()
    {
        var records = Events(60, users: 6, seed: 20);
        await Log.AppendAsync(records, CancellationToken.None);
        var (entries, next) = await ReadAsync(Log, LogPosition.Start, records.Count);
        foreach (var user in entries.GroupBy(e => KafkaEventLog.KeyOf(e.Record)))
        {
            Assert.Single(user.Select(e => e.Partition).Distinct());
        }

        Assert.Equal(3, next.PartitionCount);
        Assert.Equal(records.Count, next.Ordinal);
        Assert.Equal(next, LogPosition.Parse(next.ToString()));
    }

    [Fact]
    public async Task The_end_position_includes_records_appended_by_another_instance()
    {
        var mine = Events(5, seed: 40);
        await Log.AppendAsync(mine, CancellationToken.None);
        var theirs = Events(40, users: 9, prefix: "other-", seed: 41);
        using (var other = new KafkaEventLog(_options, Microsoft.Extensions.Logging.Abstractions.NullLogger<KafkaEventLog>.Instance))
        {
            await other.AppendAsync(theirs, CancellationToken.None);
        }

        var end = await Log.GetEndPositionAsync(CancellationToken.None);
        Assert.Equal(mine.Count + theirs.Count, end.Ordinal);
        using var reader = Log.OpenReader();
        var (entries, next) = await ReadToAsync(reader, LogPosition.Start, end);
        Assert.Equal(end, next);
        AssertExactlyOnceInKeyOrder(mine.Concat(theirs), entries.Select(e => e.Record));
    }

    [Fact]
    public async Task A_reader_moves_past_a_control_record_to_the_end_position()
    {
        var plain = Events(6, seed: 42);
        await Log.AppendAsync(plain, CancellationToken.None);
        // A committed transaction ends with a commit marker: an offset that holds no record a consumer ever sees.
        var transacted = Events(4, users: 1, prefix: "tx-", seed: 43);
        using (var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig
        {
            BootstrapServers = _options.BootstrapServers,
            TransactionalId = "tx-" + _options.Topic,
        }).Build())
        {
            producer.InitTransactions(TimeSpan.FromSeconds(10));
            producer.BeginTransaction();
            foreach (var record in transacted)
            {
                await producer.ProduceAsync(
                    new TopicPartition(_options.Topic, 0),
                    new Message<string, byte[]> { Key = KafkaEventLog.KeyOf(record), Value = LogRecordSerializer.Serialize(record) });
            }

            producer.CommitTransaction(TimeSpan.FromSeconds(10));
        }

        var end = await Log.GetEndPositionAsync(CancellationToken.None);
        Assert.Equal(plain.Count + transacted.Count + 1, end.Ordinal);
        using var reader = Log.OpenReader();
        var (entries, next) = await ReadToAsync(reader, LogPosition.Start, end);
        Assert.Equal(end, next);
        AssertExactlyOnceInKeyOrder(plain.Concat(transacted), entries.Select(e => e.Record));
    }

    [Fact]
    public async Task A_single_number_position_past_the_start_is_refused()
    {
        await Log.AppendAsync(Events(3), CancellationToken.None);
        await Assert.ThrowsAsync<ArgumentException>(() => Log.ReadAsync(LogPosition.FromInt64(2), 10, CancellationToken.None).AsTask());
    }
}
