using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.OfflineStore;
using RecSys.FeatureStore.Streaming;
using RecSys.FeatureStore.Tests.EventLog;
using RecSys.TestSupport;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Tests.OfflineStore;

public sealed class BackfillTests(EmbeddedGarnet garnet, MockKafkaFixture kafka) : IClassFixture<EmbeddedGarnet>, IClassFixture<MockKafkaFixture>
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

    [Fact]
    public async Task A_backfill_completes_while_another_read_of_the_log_waits_at_its_tail()
    {
        using var kit = new OfflineKit();
        using var log = kit.OpenLog();
        await log.AppendAsync(StreamWithDuplicates(seed: 12, events: 1_000), CancellationToken.None);
        var end = await log.GetEndPositionAsync(CancellationToken.None);
        using var cts = new CancellationTokenSource();
        // The live stream processor's situation: its read through the log waits at the tail for the next event.
        var parked = log.ReadAsync(end, 64, cts.Token).AsTask();

        var result = await new BackfillProcessor(log, kit.Store, OfflineKit.Plan) { ReadBatchSize = 100 }
            .RunAsync(null, CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1_000, result.EventsRead);
        Assert.Equal(100, result.Duplicates);
        Assert.Equal(end.Ordinal, result.Position);
        Assert.True(result.RowsWritten > 0);

        Assert.False(parked.IsCompleted);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => parked);
    }

    /// <summary>
    /// The same records, appended in the same order (half of them by a second Kafka log instance, whose records the first
    /// instance only learns of from the brokers). On one partition the read order is the append order, so every row is
    /// the same. On three, the partitions interleave in another order: the values and event times of users and items do
    /// not depend on it, while the created times (the watermark when read) and the creators (the item upserts read so far)
    /// do, so those are left out there.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task A_backfill_over_the_Kafka_log_writes_the_rows_of_the_embedded_log(int partitions)
    {
        var records = StreamWithDuplicates(seed: 13, events: 2_000);
        var chunks = records.Chunk(400).ToList();

        using var embeddedKit = new OfflineKit();
        BackfillProgress embedded;
        using (var log = embeddedKit.OpenLog())
        {
            foreach (var chunk in chunks)
            {
                await log.AppendAsync(chunk, CancellationToken.None);
            }

            embedded = await new BackfillProcessor(log, embeddedKit.Store, OfflineKit.Plan) { ReadBatchSize = 333 }
                .RunAsync(null, CancellationToken.None);
        }

        var topic = "backfill-" + Guid.NewGuid().ToString("N");
        kafka.Cluster.CreateTopic(topic, partitions);
        var options = new KafkaEventLogOptions
        {
            BootstrapServers = kafka.Cluster.BootstrapServers,
            Topic = topic,
            ConsumerGroup = "group-" + topic,
            Linger = TimeSpan.FromMilliseconds(1),
        };
        using var kafkaKit = new OfflineKit();
        BackfillProgress fromKafka;
        using (var log = new KafkaEventLog(options, NullLogger<KafkaEventLog>.Instance))
        {
            using (var other = new KafkaEventLog(options, NullLogger<KafkaEventLog>.Instance))
            {
                for (var i = 0; i < chunks.Count; i++)
                {
                    await (i % 2 == 0 ? log : other).AppendAsync(chunks[i], CancellationToken.None);
                }
            }

            fromKafka = await new BackfillProcessor(log, kafkaKit.Store, OfflineKit.Plan) { ReadBatchSize = 333 }
                .RunAsync(null, CancellationToken.None)
                .WaitAsync(TimeSpan.FromSeconds(60));
        }

        Assert.Equal(2_000, embedded.EventsRead);
        Assert.Equal(embedded.EventsRead, fromKafka.EventsRead);
        Assert.Equal(embedded.Duplicates, fromKafka.Duplicates);
        Assert.Equal(records.Count, fromKafka.Position);

        var columns = partitions == 1
            ? "entity_kind, entity_id, feature, value, event_time_ms, created_time_ms"
            : "entity_kind, entity_id, feature, value, event_time_ms";
        var where = partitions == 1 ? "" : $"WHERE entity_kind <> {OfflineKit.Sql(EntityKinds.Creator)}";
        var expected = await RowsAsync(embeddedKit.Store, columns, where);
        var actual = await RowsAsync(kafkaKit.Store, columns, where);
        Assert.True(expected.Count > 1_000, $"only {expected.Count} rows");
        Assert.Equal(expected, actual);
    }

    private static async Task<List<string>> RowsAsync(IOfflineFeatureStore store, string columns, string where)
    {
        var rows = await OfflineKit.QueryAsync($"SELECT {columns} FROM {OfflineLayout.ReadParquetSql(store.Directory)} {where} ORDER BY ALL");
        return rows.Select(r => string.Join('|', r.Select(v => Convert.ToString(v, CultureInfo.InvariantCulture)))).ToList();
    }
}
