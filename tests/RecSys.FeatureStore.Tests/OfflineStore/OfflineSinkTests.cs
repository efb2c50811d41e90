using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.OfflineStore;
using RecSys.FeatureStore.Streaming;
using RecSys.FeatureStore.Telemetry;
using RecSys.TestSupport;

namespace RecSys.FeatureStore.Tests.OfflineStore;

public sealed class OfflineSinkTests(EmbeddedGarnet garnet) : IClassFixture<EmbeddedGarnet>, IDisposable
{
    private static readonly ServiceProvider Services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly OfflineKit _kit = new();

    public void Dispose() => _kit.Dispose();

    private OfflineFeatureSink Sink(int capacity = 64) => new(
        _kit.Store,
        new FeatureStoreTelemetry(Services.GetRequiredService<IMeterFactory>()),
        Options.Create(new OfflineStoreOptions { SinkCapacity = capacity, RowGroupSize = 1_000, FlushInterval = TimeSpan.FromMinutes(5) }),
        TimeProvider.System,
        NullLogger<OfflineFeatureSink>.Instance);

    private async Task<long> CountAsync() =>
        _kit.Store.HasData() ? (long)(await OfflineKit.QueryAsync($"SELECT count(*) FROM {OfflineLayout.ReadParquetSql(_kit.Store.Directory)}"))[0][0]! : 0;

    [Fact]
    public async Task Appended_rows_are_written_when_the_sink_stops()
    {
        var sink = Sink();
        await sink.StartAsync(CancellationToken.None);
        var t = OfflineKit.Ms(TestData.T0);
        Assert.True(sink.Append([OfflineKit.UserRow("s1", "user_clicks_total", 1, t), OfflineKit.UserRow("s2", "user_clicks_total", 2, t + 86_400_000)]));
        Assert.True(sink.Append([]));
        await sink.StopAsync(CancellationToken.None);

        Assert.Equal(2, await CountAsync());
        Assert.Equal(2, Directory.GetDirectories(_kit.Store.Directory, "date=*").Length);
    }

    [Fact]
    public async Task A_full_sink_refuses_without_waiting()
    {
        var sink = Sink(capacity: 1);
        var t = OfflineKit.Ms(TestData.T0);
        Assert.True(sink.Append([OfflineKit.UserRow("s1", "user_clicks_total", 1, t)]));
        Assert.False(sink.Append([OfflineKit.UserRow("s2", "user_clicks_total", 1, t)]));
        await sink.FlushAsync(CancellationToken.None);
        Assert.Equal(1, await CountAsync());
    }

    [Fact]
    public async Task Capture_hands_the_sink_the_values_a_batch_left_online()
    {
        garnet.Flush();
        using var log = _kit.OpenLog();
        await log.AppendAsync(
            [
                TestData.Item("ci1", "cc1", ["news"]),
                TestData.Event("ce1", "cu1", "ci1", EventType.Click, TestData.T0),
                TestData.Event("ce2", "cu1", "ci1", EventType.Impression, TestData.T0.AddMinutes(1)),
                TestData.Event("ce3", "cu1", "ci1", EventType.Click, TestData.T0.AddMinutes(2)),
            ],
            CancellationToken.None);
        await OfflineKit.ApplyOnlineAsync(log, garnet);
        var batch = await log.ReadAsync(LogPosition.Start, 100, CancellationToken.None);

        var collected = new CollectingSink();
        var capture = new OfflineCapture(garnet.Connection, OfflineKit.Plan, collected, TimeProvider.System);
        var count = await capture.CaptureAsync(batch.Entries);

        Assert.Equal(collected.Rows.Count, count);
        var db = garnet.Connection.GetDatabase();
        var clicks = Assert.Single(collected.Rows, r => r.EntityId == "cu1" && r.Feature == "user_clicks_total");
        Assert.Equal(2, clicks.Value);
        Assert.Equal(OfflineKit.Ms(TestData.T0.AddMinutes(2)), clicks.EventTimeMs);
        Assert.Contains(collected.Rows, r => r.EntityKind == EntityKinds.Creator && r.EntityId == "cc1" && r.Feature == "creator_engagement_total");
        foreach (var row in collected.Rows)
        {
            var field = OfflineKit.Plan.Stored.Single(s => s.Name == row.Feature).Field;
            var online = await db.HashGetAsync(OnlineKeys.Features(row.EntityKind, row.EntityId), field);
            Assert.Equal(double.Parse((string)online!, CultureInfo.InvariantCulture), row.Value);
        }
    }

    private sealed class CollectingSink : IOfflineFeatureSink
    {
        public List<FeatureRow> Rows { get; } = [];

        public bool Append(IEnumerable<FeatureRow> rows)
        {
            Rows.AddRange(rows);
            return true;
        }
    }
}
