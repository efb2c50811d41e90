using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.Consistency;
using RecSys.FeatureStore.OfflineStore;
using RecSys.FeatureStore.Streaming;
using RecSys.FeatureStore.Telemetry;
using RecSys.FeatureStore.Tests.OfflineStore;
using RecSys.TestSupport;

namespace RecSys.FeatureStore.Tests.Consistency;

public sealed class ConsistencyTests(EmbeddedGarnet garnet) : IClassFixture<EmbeddedGarnet>
{
    private static readonly ServiceProvider Services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    private ConsistencyChecker Checker(IOfflineFeatureStore store) => new(
        garnet.Connection,
        store,
        OfflineKit.Plan,
        new FeatureStoreTelemetry(Services.GetRequiredService<IMeterFactory>()),
        Options.Create(new ConsistencyOptions { SampleSize = 10_000 }),
        TimeProvider.System,
        NullLogger<ConsistencyChecker>.Instance);

    /// <summary>The same events applied online and backfilled offline.</summary>
    private async Task<OfflineKit> BothStoresAsync()
    {
        garnet.Flush();
        var kit = new OfflineKit();
        using var log = kit.OpenLog();
        await log.AppendAsync(BackfillTests.StreamWithDuplicates(seed: 5, events: 1_000), CancellationToken.None);
        await OfflineKit.ApplyOnlineAsync(log, garnet);
        await new BackfillProcessor(log, kit.Store, OfflineKit.Plan).RunAsync(null, CancellationToken.None);
        return kit;
    }

    [Theory]
    [InlineData(null, null, true)]
    [InlineData(1.0, null, false)]
    [InlineData(null, 1.0, false)]
    [InlineData(100.0, 100.9, true)]
    [InlineData(100.0, 101.5, false)]
    [InlineData(0.0, 0.0, true)]
    public void Values_match_within_the_relative_tolerance(double? online, double? offline, bool match) =>
        Assert.Equal(match, ConsistencyChecker.ValuesMatch(online, offline, 0.01));

    [Fact]
    public async Task Stores_fed_the_same_events_agree_and_the_check_is_counted()
    {
        using var kit = await BothStoresAsync();
        long checks = 0;
        double? ratio = null;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == FeatureStoreTelemetry.Name)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            if (instrument.Name == "recsys.consistency.checks")
            {
                Interlocked.Add(ref checks, value);
            }
        });
        listener.SetMeasurementEventCallback<double>((instrument, value, _, _) => ratio = value);
        listener.Start();

        var checker = Checker(kit.Store);
        var report = await checker.CheckAsync(CancellationToken.None);
        listener.RecordObservableInstruments();

        Assert.True(report.SampledEntities >= 70, $"{report.SampledEntities} sampled");
        Assert.True(report.ComparedValues > report.SampledEntities);
        Assert.Equal(0, report.Mismatches);
        Assert.False(report.Alert);
        Assert.Same(report, checker.Latest);
        Assert.Equal(1, Interlocked.Read(ref checks));
        Assert.Equal(0.0, ratio);
    }

    [Fact]
    public async Task An_injected_mismatch_is_detected_and_reconcile_fixes_it_only_where_offline_is_newer()
    {
        using var kit = await BothStoresAsync();
        var db = garnet.Connection.GetDatabase();
        var offline = await BackfillTests.OfflineLatestAsync(kit.Store);
        var (olderKey, older) = offline.First(e => e.Key.Item1 == EntityKinds.User && e.Key.Item3 == "user_clicks_total");
        var (newerKey, newer) = offline.First(e => e.Key.Item1 == EntityKinds.Item && e.Key.Item3 == "item_views_total");
        var olderHash = OnlineKeys.Features(EntityKinds.User, olderKey.Item2);
        var newerHash = OnlineKeys.Features(EntityKinds.Item, newerKey.Item2);

        // An online value that lost updates (older time) and one that is ahead of the offline store (newer time).
        await db.HashSetAsync(olderHash, [new("clicks_total", older.Value + 50), new("clicks_total@t", older.Time - 60_000)]);
        await db.HashSetAsync(newerHash, [new("views_total", newer.Value + 7), new("views_total@t", newer.Time + 60_000)]);

        var checker = Checker(kit.Store);
        var report = await checker.CheckAsync(CancellationToken.None);
        Assert.Equal(2, report.Mismatches);
        Assert.Equal(2, report.MismatchedEntities);
        Assert.Contains(report.Examples, m => m.EntityId == olderKey.Item2 && m.Feature == "user_clicks_total" && m.OfflineNewer && m.Online!.Value == older.Value + 50);
        Assert.Contains(report.Examples, m => m.EntityId == newerKey.Item2 && m.Feature == "item_views_total" && !m.OfflineNewer);
        Assert.True(report.Alert == (report.InconsistencyRatio > 0.01));

        var reconciled = await checker.ReconcileAsync(CancellationToken.None);
        Assert.Equal(1, reconciled.OfflineNewer);
        Assert.Equal(1, reconciled.Written);

        Assert.Equal(older.Value, double.Parse((string)(await db.HashGetAsync(olderHash, "clicks_total"))!, CultureInfo.InvariantCulture));
        Assert.Equal(older.Time, (long)await db.HashGetAsync(olderHash, "clicks_total@t"));
        Assert.Equal(newer.Value + 7, double.Parse((string)(await db.HashGetAsync(newerHash, "views_total"))!, CultureInfo.InvariantCulture));

        var after = await checker.CheckAsync(CancellationToken.None);
        Assert.Equal(1, after.Mismatches);
    }

    [Fact]
    public async Task The_idempotent_write_refuses_an_older_or_equal_event_time()
    {
        garnet.Flush();
        var db = garnet.Connection.GetDatabase();
        const string key = "f:user:w1";
        Assert.Equal(1, (long)await db.ScriptEvaluateAsync(ConsistencyChecker.WriteIfNewer, [key], ["clicks_total", "3", 1_000]));
        Assert.Equal(0, (long)await db.ScriptEvaluateAsync(ConsistencyChecker.WriteIfNewer, [key], ["clicks_total", "9", 1_000]));
        Assert.Equal(0, (long)await db.ScriptEvaluateAsync(ConsistencyChecker.WriteIfNewer, [key], ["clicks_total", "9", 999]));
        Assert.Equal("3", (string?)await db.HashGetAsync(key, "clicks_total"));
        Assert.Equal(1, (long)await db.ScriptEvaluateAsync(ConsistencyChecker.WriteIfNewer, [key], ["clicks_total", "4", 1_001]));
        Assert.Equal("4", (string?)await db.HashGetAsync(key, "clicks_total"));
        Assert.Equal("1001", (string?)await db.HashGetAsync(key, "clicks_total@t"));
    }
}
