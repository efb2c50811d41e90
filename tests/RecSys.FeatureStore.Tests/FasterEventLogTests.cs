using Microsoft.Extensions.Logging.Abstractions;
using RecSys.Core.Domain;
using RecSys.FeatureStore.EventLog;
using RecSys.TestSupport;

namespace RecSys.FeatureStore.Tests;

public sealed class FasterEventLogTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "recsys-fs-log-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    /// <summary>Records hold lists (compared by reference), so compare their encodings.</summary>
    private static void AssertSame(IEnumerable<LogRecord> expected, IEnumerable<LogRecord> actual) =>
        Assert.Equal(
            expected.Select(r => Convert.ToBase64String(LogRecordSerializer.Serialize(r))),
            actual.Select(r => Convert.ToBase64String(LogRecordSerializer.Serialize(r))));

    private FasterEventLog Open() => new(_dir, NullLogger<FasterEventLog>.Instance);

    private static async Task<List<LogEntry>> ReadAllAsync(IEventLog log, long from = 0)
    {
        var all = new List<LogEntry>();
        while (from < log.TailPosition)
        {
            var batch = await log.ReadAsync(from, 100, CancellationToken.None);
            all.AddRange(batch.Entries);
            from = batch.NextPosition;
        }

        return all;
    }

    [Fact]
    public async Task Appended_records_are_read_back_in_order_after_reopening()
    {
        var records = TestData.RandomStream(1, items: 20, users: 5, events: 230);
        long end;
        using (var log = Open())
        {
            end = await log.AppendAsync(records[..100], CancellationToken.None);
            Assert.Equal(end, log.TailPosition);
            end = await log.AppendAsync(records[100..], CancellationToken.None);
        }

        using var reopened = Open();
        Assert.Equal(end, reopened.TailPosition);
        var read = await ReadAllAsync(reopened);
        AssertSame(records, read.Select(e => e.Record));
        Assert.All(read.Zip(read.Skip(1)), pair => Assert.Equal(pair.First.NextPosition, pair.Second.Position));
    }

    [Fact]
    public async Task A_crash_without_dispose_keeps_the_committed_prefix()
    {
        var records = TestData.RandomStream(2, items: 5, users: 3, events: 50);
        var crashed = Open();
        await crashed.AppendAsync(records, CancellationToken.None);
        // Simulated crash: the instance is abandoned without Dispose (no final flush, no clean shutdown).
        using var reopened = Open();
        var read = await ReadAllAsync(reopened);
        AssertSame(records, read.Select(e => e.Record));
        GC.KeepAlive(crashed);
    }

    [Fact]
    public async Task Reading_resumes_from_any_returned_position()
    {
        using var log = Open();
        var records = TestData.RandomStream(3, items: 5, users: 3, events: 40);
        await log.AppendAsync(records, CancellationToken.None);
        var all = await ReadAllAsync(log);
        var middle = all[17].Position;
        var rest = await ReadAllAsync(log, middle);
        AssertSame(records[17..], rest.Select(e => e.Record));
        var again = await ReadAllAsync(log, all[3].NextPosition);
        AssertSame(records[4..], again.Select(e => e.Record));
    }

    [Fact]
    public async Task A_read_at_the_tail_waits_for_the_next_commit()
    {
        using var log = Open();
        var tail = await log.AppendAsync([TestData.Event("a", "u1", "i1", EventType.Click, TestData.T0)], CancellationToken.None);
        var pending = log.ReadAsync(tail, 10, CancellationToken.None).AsTask();
        Assert.False(pending.IsCompleted);
        var second = TestData.Event("b", "u1", "i2", EventType.View, TestData.T0);
        await log.AppendAsync([second], CancellationToken.None);
        var batch = await pending.WaitAsync(TimeSpan.FromSeconds(10));
        AssertSame([second], batch.Entries.Select(e => e.Record));
    }

    [Fact]
    public async Task A_read_at_the_tail_is_cancellable()
    {
        using var log = Open();
        using var cts = new CancellationTokenSource();
        var pending = log.ReadAsync(log.TailPosition, 10, cts.Token).AsTask();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_read_from_before_the_begin_of_an_empty_log_moves_to_the_begin_at_once()
    {
        using var log = Open();
        Assert.True(log.BeginPosition > 0);
        // Otherwise a reader from the start would wait for the first record before reaching the end of an empty log.
        var batch = await log.ReadAsync(LogPosition.Start, 10, CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Empty(batch.Entries);
        Assert.Equal(log.BeginPosition, batch.NextPosition.Ordinal);
        Assert.Equal(await log.GetEndPositionAsync(CancellationToken.None), batch.NextPosition);
    }
}
