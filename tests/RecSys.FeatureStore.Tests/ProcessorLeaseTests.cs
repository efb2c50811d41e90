using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.Streaming;
using RecSys.FeatureStore.Telemetry;
using RecSys.TestSupport;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Tests;

/// <summary>One writer at a time: the fencing token refuses a stale applier, the lease keeps a second processor standing by.</summary>
public sealed class ProcessorLeaseTests(EmbeddedGarnet garnet) : IClassFixture<EmbeddedGarnet>, IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly IDatabase _db = garnet.Connection.GetDatabase();
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "recsys-lease-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public async Task A_writer_fenced_off_by_a_newer_one_changes_nothing()
    {
        garnet.Flush();
        var stale = Infrastructure.Applier(garnet);
        await stale.InitializeAsync();
        var newer = Infrastructure.Applier(garnet);
        await newer.InitializeAsync();
        Assert.NotEqual(stale.Token, newer.Token);

        var events = TestData.Entries([TestData.Event("e1", "u1", "i1", EventType.Click, TestData.T0)]);
        await Assert.ThrowsAsync<ProcessorFencedException>(() => stale.ApplyEffectsAsync(events));
        await Assert.ThrowsAsync<ProcessorFencedException>(() => stale.ApplyAsync(TestData.Entries([TestData.Item("i1", "c1", ["news"])]), 0, 1));
        Assert.False(await _db.KeyExistsAsync(OnlineKeys.AppliedEvent("e1")));
        Assert.False(await _db.KeyExistsAsync(OnlineKeys.Item("i1")));
        Assert.False(await _db.KeyExistsAsync(OnlineKeys.ProcessorPosition));

        // The newer writer is unaffected.
        Assert.True((await newer.ApplyAsync(events, 0, 1)).Committed);
        Assert.True(await _db.KeyExistsAsync(OnlineKeys.AppliedEvent("e1")));
    }

    [Fact]
    public async Task A_lost_store_fences_the_writer_until_it_starts_again()
    {
        garnet.Flush();
        var applier = Infrastructure.Applier(garnet);
        await applier.InitializeAsync();
        garnet.Flush();
        var events = TestData.Entries([TestData.Event("e1", "u1", "i1", EventType.Click, TestData.T0)]);
        await Assert.ThrowsAsync<ProcessorFencedException>(() => applier.ApplyEffectsAsync(events));

        Assert.Equal(LogPosition.Start, await applier.InitializeAsync());
        Assert.True((await applier.ApplyAsync(events, 0, 1)).Committed);
    }

    [Fact]
    public async Task A_second_processor_stands_by_and_takes_over_when_the_first_stops()
    {
        garnet.Flush();
        using var log = new FasterEventLog(_dir, NullLogger<FasterEventLog>.Instance);
        await log.AppendAsync([.. Enumerable.Range(0, 200).Select(i => (LogRecord)TestData.Event($"a{i}", $"u{i % 7}", $"i{i % 11}", EventType.Click, TestData.T0.AddSeconds(i)))], CancellationToken.None);

        var (first, firstState) = Processor(log, "first");
        var (second, secondState) = Processor(log, "second");
        using var stopFirst = new CancellationTokenSource();
        using var stopSecond = new CancellationTokenSource();
        var runFirst = Task.Run(() => first.RunAsync(stopFirst.Token));
        await WaitUntilAsync(() => firstState.Active);
        var runSecond = Task.Run(() => second.RunAsync(stopSecond.Token));
        await WaitUntilAsync(async () => await AppliedAsync() == 200);
        Assert.Equal("first", (string?)await _db.StringGetAsync(ProcessorKeys.Lease));
        Assert.False(secondState.Active);

        // A graceful stop gives the lease up; the standby takes over and applies what comes next.
        await stopFirst.CancelAsync();
        await StoppedAsync(runFirst);
        await WaitUntilAsync(() => secondState.Active);
        await log.AppendAsync([.. Enumerable.Range(0, 50).Select(i => (LogRecord)TestData.Event($"b{i}", "u1", "i1", EventType.View, TestData.T0.AddMinutes(10 + i)))], CancellationToken.None);
        await WaitUntilAsync(async () => await AppliedAsync() == 250);
        Assert.Equal("second", (string?)await _db.StringGetAsync(ProcessorKeys.Lease));
        Assert.Equal(0L, (long)await _db.HashGetAsync(ProcessorKeys.Stats, ProcessorKeys.DuplicatesSkipped));

        await stopSecond.CancelAsync();
        await StoppedAsync(runSecond);
        Assert.False(await _db.KeyExistsAsync(ProcessorKeys.Lease));
    }

    /// <summary>A cancelled processor either returns or throws its cancellation; anything else is a failure.</summary>
    private static async Task StoppedAsync(Task run)
    {
        try
        {
            await run.WaitAsync(Patience);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task<long> AppliedAsync() => (long)await _db.HashGetAsync(ProcessorKeys.Stats, ProcessorKeys.EventsApplied);

    private (StreamProcessor Processor, ProcessorState State) Processor(IEventLog log, string instance)
    {
        var state = new ProcessorState();
        var metrics = Infrastructure.Metrics();
        var processor = new StreamProcessor(
            log,
            new OnlineApplier(garnet.Connection, metrics),
            state,
            metrics,
            Options.Create(new FeatureStoreOptions { ProcessorInstanceId = instance, ProcessorLease = TimeSpan.FromSeconds(5) }),
            TimeProvider.System,
            NullLogger<StreamProcessor>.Instance);
        return (processor, state);
    }

    private static Task WaitUntilAsync(Func<bool> condition) => WaitUntilAsync(() => Task.FromResult(condition()));

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        using var timeout = new CancellationTokenSource(Patience);
        while (!await condition())
        {
            await Task.Delay(20, timeout.Token);
        }
    }
}
