using RecSys.Core.Domain;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.OfflineStore;
using RecSys.Ranking.Features;
using RecSys.TestSupport;
using RecSys.Trainer.Ranking;

namespace RecSys.Trainer.Tests.Ranking;

/// <summary>
/// The registry values <c>train-rankers</c> takes from <c>POST /v1/training-sets</c> (the offline store after a backfill, read
/// point in time) equal the log replay's at every request time, and the catalog's other inputs are exactly the ones without an
/// offline form.
/// </summary>
public sealed class TrainingSetParityTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 11, 20, 12, 0, 0, TimeSpan.Zero);
    private readonly OfflineKit _kit = new();

    public void Dispose() => _kit.Dispose();

    [Fact]
    public void The_offline_form_features_are_the_counters_windows_and_latest_time_of_the_catalog()
    {
        Assert.Equal([RankingFeatureCatalog.UserEventsTotal, RankingFeatureCatalog.UserEngagementTotal, RankingFeatureCatalog.UserLastEventMs], TrainingSetFeatures.UserFeatures);
        Assert.Equal(
            [RankingFeatureCatalog.ItemEventsTotal, RankingFeatureCatalog.ItemEngagementTotal, RankingFeatureCatalog.ItemEngagement7d, RankingFeatureCatalog.ItemEngagement30d],
            TrainingSetFeatures.ItemFeatures);
        Assert.Equal(
            [RankingFeatureCatalog.UserRecentItems, RankingFeatureCatalog.UserSessionItems, RankingFeatureCatalog.UserEmbedding,
             RankingFeatureCatalog.ItemPopularity, RankingFeatureCatalog.ItemCategories, RankingFeatureCatalog.ItemEmbedding],
            TrainingSetFeatures.ReplayedFeatures);
    }

    [Fact]
    public async Task Training_set_values_after_a_backfill_equal_the_replayed_ones_at_every_request_time()
    {
        // A seeded random log over 60 days, appended in time order (as a live system receives it).
        var random = new Random(5);
        var types = new[] { EventType.View, EventType.Click, EventType.Like, EventType.Rating, EventType.Impression, EventType.Purchase };
        var events = Enumerable.Range(0, 400)
            .Select(i => (Id: "e" + i, User: "u" + random.Next(12), Item: "i" + random.Next(15), Type: types[random.Next(types.Length)],
                Time: Now - TimeSpan.FromMinutes(random.Next(60 * 24 * 60)), Value: (double?)(random.Next(10) / 2.0)))
            .Select(e => e with { Value = e.Type == EventType.Rating ? e.Value : null })
            .OrderBy(e => e.Time)
            .ToList();
        using (var log = _kit.OpenLog())
        {
            await log.AppendAsync([.. events.Select(e => (LogRecord)TestData.Event(e.Id, e.User, e.Item, e.Type, e.Time, e.Value))], CancellationToken.None);
            await new BackfillProcessor(log, _kit.Store, OfflineKit.Plan).RunAsync(null, CancellationToken.None);
        }

        var history = new EventHistory(
            events.Select(e => new HistoryEvent(e.User, e.Item, e.Time.ToUnixTimeMilliseconds(), e.Type, EventTypes.EngagementWeight(e.Type, e.Value))),
            new Dictionary<string, IReadOnlyList<string>>());
        var labels = Enumerable.Range(0, 300)
            .Select(_ => new LabelRow("u" + random.Next(13), "i" + random.Next(16), null, (Now - TimeSpan.FromMinutes(random.Next(-60, 60 * 24 * 62))).ToUnixTimeMilliseconds(), 1))
            .ToList();
        var features = TrainingSetFeatures.UserFeatures.Concat(TrainingSetFeatures.ItemFeatures).ToList();
        var output = Path.Combine(_kit.Root, "set.parquet");
        await new TrainingSetBuilder(_kit.Store).BuildAsync(labels, [.. features.Select(OfflineKit.Feature)], output, CancellationToken.None);
        var rows = await OfflineKit.QueryAsync($"SELECT {string.Join(", ", features.Select(f => $"\"{f}\""))} FROM read_parquet({OfflineKit.Sql(output)}) ORDER BY label_index");

        Assert.Equal(labels.Count, rows.Count);
        var compared = 0;
        for (var i = 0; i < labels.Count; i++)
        {
            var user = history.UserAsOf(labels[i].UserId!, labels[i].EventTimeMs);
            var item = history.ItemAsOf(labels[i].ItemId!, labels[i].EventTimeMs);
            for (var f = 0; f < features.Count; f++)
            {
                var replayed = f < TrainingSetFeatures.UserFeatures.Count ? user : item;
                // Absent in the replay is the registry default (0) in the training set.
                var expected = replayed.TryNumber(features[f], out var v) ? v : 0;
                Assert.True(Math.Abs(expected - (double)rows[i][f]!) < 1e-9, $"label {i} ({labels[i]}): {features[f]} replayed {expected}, training set {rows[i][f]}");
                compared += expected != 0 ? 1 : 0;
            }
        }

        Assert.True(compared > 500, $"only {compared} non-zero values compared");
    }
}
