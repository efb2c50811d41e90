using System.Globalization;
using RecSys.Core.Storage;
using RecSys.FeatureServer.EventLog;
using RecSys.FeatureServer.OfflineStore;
using RecSys.FeatureServer.Streaming;
using RecSys.TestSupport;
using StackExchange.Redis;

namespace RecSys.FeatureServer.Tests.OfflineStore;

public sealed class BackfillTests(EmbeddedGarnet garnet) : IClassFixture<EmbeddedGarnet>
{
    /// <summary>A random stream with every event type, follows and creators, plus redelivered (duplicate) events.</summary>
    internal static List<LogRecord> StreamWithDuplicates(int seed, int events)
    {
        var records = TestData.RandomStream(seed, items: 30, users: 40, events: events);
        var random = new Random(seed);
        var duplicates = records.OfType<EventRecord>().OrderBy(_ => random.Next()).Take(events / 10).ToList();
        records.AddRange(duplicates);
        return records;
    }

    /// <summary>Latest offline value and event time per (kind, id, feature).</summary>
    internal static async Task<Dictionary<(string, string, string), (double Value, long Time)>> OfflineLatestAsync(IOfflineFeatureStore store)
    {
        var rows = await OfflineKit.QueryAsync($$"""
            SELECT entity_kind, entity_id, feature, max_by(value, {'t': event_time_ms, 'c': created_time_ms, 'v': value}), max(event_time_ms)
            FROM {{OfflineLayout.ReadParquetSql(store.Directory)}} GROUP BY ALL
            """);
        return rows.ToDictionary(r => ((string)r[0]!, (string)r[1]!, (string)r[2]!), r => ((double)r[3]!, (long)r[4]!));
    }

    [Fact]
    public async Task Backfill_recomputes_the_values_the_online_path_computes_from_the_same_events()
    {
        garnet.Flush();
        using var kit = new OfflineKit();
        using var log = kit.OpenLog();
        var records = StreamWithDuplicates(seed: 11, events: 3_000);
        foreach (var chunk in records.Chunk(500))
        {
            await log.AppendAsync(chunk, CancellationToken.None);
        }

        await OfflineKit.ApplyOnlineAsync(log, garnet);
        var result = await new BackfillProcessor(log, kit.Store, OfflineKit.Plan) { ReadBatchSize = 333, WriteBatchSize = 2_000 }
            .RunAsync(null, CancellationToken.None);
        Assert.Equal(3_000, result.EventsRead);
        Assert.Equal(300, result.Duplicates);

        var offline = await OfflineLatestAsync(kit.Store);
        var db = garnet.Connection.GetDatabase();
        var entities = new List<(string Kind, string Id)>();
        entities.AddRange(Enumerable.Range(0, 40).Select(i => (EntityKinds.User, $"u{i}")));
        entities.AddRange(Enumerable.Range(0, 30).Select(i => (EntityKinds.Item, $"i{i}")));
        entities.AddRange(Enumerable.Range(0, 5).Select(i => (EntityKinds.Creator, $"c{i}")));
        var compared = 0;
        foreach (var (kind, id) in entities)
        {
            foreach (var feature in OfflineKit.Plan.Stored.Where(s => s.EntityKind == kind))
            {
                var online = await db.HashGetAsync(OnlineKeys.Features(kind, id), [feature.Field, feature.Field + FeatureFields.TimeSuffix]);
                var found = offline.TryGetValue((kind, id, feature.Name), out var stored);
                Assert.True(online[0].IsNull != found, $"{kind}:{id} {feature.Name}: online {online[0]}, offline {(found ? stored.Value : "none")}");
                if (found)
                {
                    var value = double.Parse((string)online[0]!, CultureInfo.InvariantCulture);
                    Assert.True(Math.Abs(value - stored.Value) <= 1e-9 * Math.Max(1, Math.Abs(value)), $"{kind}:{id} {feature.Name}: online {value}, offline {stored.Value}");
                    Assert.Equal((long)online[1], stored.Time);
                    compared++;
                }
            }
        }

        // Every stored feature kind took part (users, items and creators).
        Assert.True(compared > 300, $"only {compared} values compared");
        Assert.Contains(offline.Keys, k => k.Item1 == EntityKinds.Creator);
        Assert.Contains(offline.Keys, k => k.Item3 == "user_last_event_ms");
    }

    [Fact]
    public async Task A_late_event_makes_the_values_it_changed_known_only_from_its_arrival()
    {
        using var kit = new OfflineKit();
        using var log = kit.OpenLog();
        var t0 = TestData.T0;
        await log.AppendAsync(
            [
                TestData.Event("e1", "u1", "i1", Core.Domain.EventType.Click, t0),
                TestData.Event("e2", "u2", "i2", Core.Domain.EventType.Click, t0.AddHours(5)),
                // Arrives after e2 although it happened before it.
                TestData.Event("e3", "u1", "i1", Core.Domain.EventType.Click, t0.AddHours(1)),
            ],
            CancellationToken.None);
        await new BackfillProcessor(log, kit.Store, OfflineKit.Plan).RunAsync(null, CancellationToken.None);

        var rows = await OfflineKit.QueryAsync($"SELECT value, event_time_ms, created_time_ms FROM {OfflineLayout.ReadParquetSql(kit.Store.Directory)} WHERE entity_id = 'u1' AND feature = 'user_clicks_total' ORDER BY event_time_ms");
        var ms = OfflineKit.Ms(t0);
        Assert.Equal([1.0, ms, ms], rows[0]);
        Assert.Equal([2.0, ms + 3_600_000, ms + (5 * 3_600_000)], rows[1]);
    }
}
