using Microsoft.Extensions.Time.Testing;
using RecSys.Core.Domain;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.OfflineStore;
using RecSys.TestSupport;

namespace RecSys.FeatureStore.Tests.OfflineStore;

/// <summary>
/// What <c>POST /v1/training-sets</c> answers after a backfill of an imported log (issue 9): it must not depend on how far
/// the stream processor had got, and the counters of one entity must count the same events.
/// </summary>
public sealed class TrainingSetRepeatabilityTests(EmbeddedGarnet garnet) : IClassFixture<EmbeddedGarnet>
{
    private const int Items = 200;
    private const int Users = 15;

    private static readonly string[] CounterFeatures = ["user_events_total", "user_engagement_total", "item_events_total", "item_engagement_total"];

    /// <summary>
    /// The same events in time order, cut into batches of <paramref name="batchSize"/>, appended in the order a client with
    /// three requests in flight can produce: within each three batches the second and third swap (0, 2, 1, 3, 5, 4, ...).
    /// Many items with few events each, as in MovieLens: an item's events in a late batch may all be of no engagement.
    /// </summary>
    private static List<LogRecord> InterleavedImport(int seed, int events, int batchSize)
    {
        var stream = TestData.RandomStream(seed, items: Items, users: Users, events: events);
        var items = stream.OfType<ItemUpsertRecord>().Cast<LogRecord>();
        var ordered = stream.OfType<EventRecord>().OrderBy(r => r.Event.EventTime).ToList();
        var batches = ordered.Chunk(batchSize).ToList();
        var log = new List<LogRecord>(items);
        for (var b = 0; b < batches.Count; b++)
        {
            var swapped = (b % 3) switch
            {
                1 when b + 1 < batches.Count => b + 1,
                2 => b - 1,
                _ => b,
            };
            log.AddRange(batches[swapped]);
        }

        return log;
    }

    private static async Task<List<object?[]>> BuildAsync(OfflineKit kit, IReadOnlyList<LabelRow> labels, IReadOnlyList<string> features)
    {
        var output = Path.Combine(kit.Root, Guid.NewGuid().ToString("N") + ".parquet");
        await new TrainingSetBuilder(kit.Store).BuildAsync(labels, [.. features.Select(OfflineKit.Feature)], output, CancellationToken.None);
        var columns = string.Join(", ", features.Select(f => $"\"{f}\""));
        return await OfflineKit.QueryAsync($"SELECT {columns} FROM read_parquet({OfflineKit.Sql(output)}) ORDER BY label_index");
    }

    private static List<LabelRow> Labels(int seed, int count, IReadOnlyList<InteractionEvent> events)
    {
        var random = new Random(seed);
        var first = OfflineKit.Ms(events.Min(e => e.EventTime));
        var last = OfflineKit.Ms(events.Max(e => e.EventTime));
        return [.. Enumerable.Range(0, count).Select(_ => new LabelRow(
            $"u{random.Next(Users)}", $"i{random.Next(Items)}", null, first + (long)(random.NextDouble() * (last - first + 3_600_000)), 1))];
    }

    /// <summary>Events and engagement of one entity as of each prefix (in event time) of its events, the empty one first.</summary>
    private static HashSet<(double Events, double Engagement)> Prefixes(IEnumerable<InteractionEvent> events, long untilMs)
    {
        var prefixes = new HashSet<(double, double)> { (0, 0) };
        double count = 0, engagement = 0;
        var ordered = events.Where(e => OfflineKit.Ms(e.EventTime) <= untilMs).OrderBy(e => e.EventTime).ToList();
        for (var i = 0; i < ordered.Count; i++)
        {
            count++;
            engagement += Math.Max(0, EventTypes.EngagementWeight(ordered[i].Type, ordered[i].Value));
            if (i + 1 == ordered.Count || ordered[i + 1].EventTime != ordered[i].EventTime)
            {
                prefixes.Add((count, engagement));
            }
        }

        return prefixes;
    }

    [Fact]
    public async Task An_items_events_and_engagement_count_the_same_events_when_some_arrived_late()
    {
        using var kit = new OfflineKit();
        using var log = kit.OpenLog();
        var t0 = TestData.T0;
        await log.AppendAsync(
            [
                TestData.Event("e1", "u1", "i1", EventType.Click, t0),
                TestData.Event("e4", "u1", "i1", EventType.Click, t0.AddHours(2)),
                TestData.Event("e2", "u2", "i2", EventType.View, t0.AddHours(5)),
                // Happened before e4 but arrived after e2: known only from t0 + 5h.
                TestData.Event("e3", "u3", "i1", EventType.Impression, t0.AddHours(1)),
            ],
            CancellationToken.None);
        await new BackfillProcessor(log, kit.Store, OfflineKit.Plan).RunAsync(null, CancellationToken.None);

        var rows = await BuildAsync(
            kit,
            [new LabelRow(null, "i1", null, OfflineKit.Ms(t0.AddHours(3)), 1), new LabelRow(null, "i1", null, OfflineKit.Ms(t0.AddHours(6)), 1)],
            ["item_events_total", "item_engagement_total"]);

        // At t0 + 3h the impression e3 is not known yet, so what is visible is the prefix before it: e1 (1 event, a click
        // of weight 2), not e1's event beside the engagement of e1 and e4 (1 event, weight 4). From t0 + 5h all three.
        Assert.Equal([1.0, 2.0], rows[0]);
        Assert.Equal([3.0, 4.0], rows[1]);
    }

    [Fact]
    public async Task After_a_concurrent_import_each_entitys_counters_count_one_prefix_of_its_events_and_nothing_after_the_label()
    {
        using var kit = new OfflineKit();
        using var log = kit.OpenLog();
        var records = InterleavedImport(seed: 21, events: 3_000, batchSize: 150);
        await log.AppendAsync(records, CancellationToken.None);
        await new BackfillProcessor(log, kit.Store, OfflineKit.Plan).RunAsync(null, CancellationToken.None);

        var events = records.OfType<EventRecord>().Select(r => r.Event).ToList();
        var labels = Labels(seed: 22, count: 1_000, events);
        var rows = await BuildAsync(kit, labels, CounterFeatures);

        var byUser = events.ToLookup(e => e.UserId);
        var byItem = events.Where(e => e.ItemId is not null).ToLookup(e => e.ItemId!);
        var hidden = 0;
        for (var i = 0; i < labels.Count; i++)
        {
            var label = labels[i];
            var user = ((double)rows[i][0]!, (double)rows[i][1]!);
            var item = ((double)rows[i][2]!, (double)rows[i][3]!);
            Assert.True(Prefixes(byUser[label.UserId!], label.EventTimeMs).Contains(user), $"label {i}: user {label.UserId} (events, engagement) {user} is not one prefix of its events");
            Assert.True(Prefixes(byItem[label.ItemId!], label.EventTimeMs).Contains(item), $"label {i}: item {label.ItemId} (events, engagement) {item} is not one prefix of its events");
            if (item.Item1 < byItem[label.ItemId!].Count(e => OfflineKit.Ms(e.EventTime) <= label.EventTimeMs))
            {
                hidden++;
            }
        }

        // The interleaving made some events arrive late, so some labels see less than everything before them.
        Assert.True(hidden > 0, "no label saw a late event: the test does not exercise late arrivals");
    }

    [Fact]
    public async Task The_answer_after_a_backfill_does_not_depend_on_how_far_the_stream_processor_had_got()
    {
        var records = InterleavedImport(seed: 23, events: 2_000, batchSize: 100);
        var events = records.OfType<EventRecord>().Select(r => r.Event).ToList();
        var labels = Labels(seed: 24, count: 300, events);
        // The import happens after the events' times (as the e2e's shift-to-now does): captured rows are created then.
        var clock = new FakeTimeProvider(events.Max(e => e.EventTime).AddDays(1));

        async Task<List<object?[]>> AnswerAsync(int? recordsApplied)
        {
            garnet.Flush();
            using var kit = new OfflineKit();
            using var log = kit.OpenLog();
            await log.AppendAsync(records, CancellationToken.None);
            if (recordsApplied is { } limit)
            {
                var applier = Infrastructure.Applier(garnet);
                var capture = new OfflineCapture(garnet.Connection, OfflineKit.Plan, new StoreSink(kit.Store), clock);
                var position = await applier.InitializeAsync();
                var applied = 0;
                while (applied < limit)
                {
                    var batch = await log.ReadAsync(position, Math.Min(64, limit - applied), CancellationToken.None);
                    Assert.True((await applier.ApplyAsync(batch.Entries, position, batch.NextPosition)).Committed);
                    await capture.CaptureAsync(batch.Entries);
                    applied += batch.Entries.Count;
                    position = batch.NextPosition;
                }
            }

            await new BackfillProcessor(log, kit.Store, OfflineKit.Plan).RunAsync(null, CancellationToken.None);
            return await BuildAsync(kit, labels, [.. CounterFeatures, "item_engagement_7d", "item_engagement_30d", "user_last_event_ms"]);
        }

        var backfillOnly = await AnswerAsync(null);
        var partly = await AnswerAsync(records.Count / 3);
        var fully = await AnswerAsync(records.Count);

        Assert.Equal(backfillOnly, partly);
        Assert.Equal(backfillOnly, fully);
        Assert.Contains(backfillOnly, r => (double)r[2]! > 0);
    }

    /// <summary>Writes captured rows straight to the store (the background sink's batching plays no part here).</summary>
    private sealed class StoreSink(IOfflineFeatureStore store) : IOfflineFeatureSink
    {
        public bool Append(IEnumerable<FeatureRow> rows)
        {
            store.WriteAsync([.. rows], CancellationToken.None).GetAwaiter().GetResult();
            return true;
        }
    }
}
