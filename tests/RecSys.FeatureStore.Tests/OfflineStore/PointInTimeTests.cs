using System.Security.Cryptography;
using RecSys.Core.Domain;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.OfflineStore;
using RecSys.FeatureStore.Streaming;
using RecSys.TestSupport;

namespace RecSys.FeatureStore.Tests.OfflineStore;

public sealed class PointInTimeTests : IDisposable
{
    private static readonly DateTimeOffset T = new(2026, 11, 10, 12, 0, 0, TimeSpan.Zero);
    private readonly OfflineKit _kit = new();

    public void Dispose() => _kit.Dispose();

    private static long At(TimeSpan offset) => OfflineKit.Ms(T + offset);

    private async Task<List<object?[]>> BuildAsync(IReadOnlyList<LabelRow> labels, params string[] features)
    {
        var output = Path.Combine(_kit.Root, Guid.NewGuid().ToString("N") + ".parquet");
        await new TrainingSetBuilder(_kit.Store).BuildAsync(labels, [.. features.Select(OfflineKit.Feature)], output, CancellationToken.None);
        var columns = string.Join(", ", features.Select(f => $"\"{f}\""));
        return await OfflineKit.QueryAsync($"SELECT label_index, {columns} FROM read_parquet({OfflineKit.Sql(output)})");
    }

    private static LabelRow UserLabel(string user, long ms) => new(user, null, null, ms, 1);

    [Fact]
    public async Task The_value_is_the_one_as_of_the_label_time_not_after()
    {
        await _kit.Store.WriteAsync(
            [
                OfflineKit.UserRow("u1", "user_clicks_total", 1, At(TimeSpan.FromHours(-2))),
                OfflineKit.UserRow("u1", "user_clicks_total", 2, At(TimeSpan.FromHours(-1))),
                OfflineKit.UserRow("u1", "user_clicks_total", 3, At(TimeSpan.FromHours(1))),
                OfflineKit.UserRow("u2", "user_clicks_total", 9, At(TimeSpan.FromHours(-1))),
            ],
            CancellationToken.None);

        var rows = await BuildAsync(
            [
                UserLabel("u1", At(TimeSpan.Zero)),
                UserLabel("u1", At(TimeSpan.FromHours(-1))),
                UserLabel("u1", At(TimeSpan.FromHours(-3))),
                UserLabel("u1", At(TimeSpan.FromDays(3))),
                UserLabel("u3", At(TimeSpan.Zero)),
            ],
            "user_clicks_total");

        // In label order: as of T 2 (not the 3 written an hour later); at a row's own time that row; before any row
        // and for an unknown user the definition's default 0.
        Assert.Equal([0L, 1L, 2L, 3L, 4L], rows.Select(r => r[0]));
        Assert.Equal([2.0, 2.0, 0.0, 3.0, 0.0], rows.Select(r => r[1]));
    }

    [Fact]
    public async Task Labels_and_sample_weights_pass_through_in_label_order()
    {
        await _kit.Store.WriteAsync([OfflineKit.UserRow("u1", "user_clicks_total", 4, At(TimeSpan.FromHours(-1)))], CancellationToken.None);
        var output = Path.Combine(_kit.Root, "weights.parquet");
        await new TrainingSetBuilder(_kit.Store).BuildAsync(
            [new LabelRow("u1", "i1", null, At(TimeSpan.Zero), 1, 0.25), new LabelRow("u2", "i2", null, At(TimeSpan.Zero), 0), new LabelRow("u1", "i3", null, At(TimeSpan.Zero), 0, 2)],
            [OfflineKit.Feature("user_clicks_total")],
            output,
            CancellationToken.None);

        var rows = await OfflineKit.QueryAsync($"SELECT label_index, item_id, label, weight, user_clicks_total FROM read_parquet({OfflineKit.Sql(output)})");

        // A label without a weight weighs 1.
        Assert.Equal([0L, "i1", 1.0, 0.25, 4.0], rows[0]);
        Assert.Equal([1L, "i2", 0.0, 1.0, 0.0], rows[1]);
        Assert.Equal([2L, "i3", 0.0, 2.0, 4.0], rows[2]);
    }

    [Fact]
    public async Task A_row_created_after_the_label_time_is_excluded_even_when_its_event_time_is_before()
    {
        await _kit.Store.WriteAsync(
            [
                OfflineKit.UserRow("u1", "user_clicks_total", 1, At(TimeSpan.FromHours(-5))),
                // Late: about T-1h but written at T+2h.
                OfflineKit.UserRow("u1", "user_clicks_total", 2, At(TimeSpan.FromHours(-1)), At(TimeSpan.FromHours(2))),
                // Same event time as the first, rewritten later with another value (a backfill's correction, say).
                OfflineKit.UserRow("u1", "user_clicks_total", 5, At(TimeSpan.FromHours(-5)), At(TimeSpan.FromHours(1))),
            ],
            CancellationToken.None);

        var rows = await BuildAsync(
            [
                UserLabel("u1", At(TimeSpan.Zero)),
                UserLabel("u1", At(TimeSpan.FromHours(1))),
                UserLabel("u1", At(TimeSpan.FromHours(3))),
            ],
            "user_clicks_total");

        // At T neither later write is visible; at T+1h the correction is; from T+2h the late row is the latest.
        Assert.Equal([1.0, 5.0, 2.0], rows.Select(r => r[1]));
    }

    [Fact]
    public async Task User_views_7d_as_of_the_click_counts_the_seven_day_window_before_it_and_nothing_after()
    {
        // The spec's example: a user clicks an item at T; user_views_7d must be the views of the 7 days up to T.
        using var log = _kit.OpenLog();
        static EventRecord View(string id, DateTimeOffset time) => TestData.Event(id, "u1", "i1", EventType.View, time);
        await log.AppendAsync(
            [
                TestData.Item("i1", "c1", ["news"]),
                View("v1", new DateTimeOffset(2026, 11, 1, 8, 0, 0, TimeSpan.Zero)),
                View("v2", new DateTimeOffset(2026, 11, 3, 23, 59, 0, TimeSpan.Zero)),
                View("v3", new DateTimeOffset(2026, 11, 4, 0, 0, 0, TimeSpan.Zero)),
                View("v4", new DateTimeOffset(2026, 11, 9, 18, 0, 0, TimeSpan.Zero)),
                View("v4", new DateTimeOffset(2026, 11, 9, 18, 0, 0, TimeSpan.Zero)),
                TestData.Event("c1", "u1", "i1", EventType.Click, T),
                View("v5", T.AddHours(1)),
                View("v6", T.AddDays(1)),
            ],
            CancellationToken.None);
        await new BackfillProcessor(log, _kit.Store, OfflineKit.Plan).RunAsync(null, CancellationToken.None);

        var rows = await BuildAsync(
            [new LabelRow("u1", "i1", null, OfflineKit.Ms(T), 1), new LabelRow("u1", "i1", null, OfflineKit.Ms(T.AddDays(2)), 0)],
            "user_views_7d", "user_views_total", "user_views_24h", "item_views_7d", "user_ctr");

        // As of T: the 7-day window starts at day(T) - 6 = Nov 4 00:00, so v3 and v4 (v4 once: its duplicate is ignored);
        // the 24h window at hour(T) - 23 = Nov 9 13:00 (v4); v5 and v6 come after T. No impressions: ctr is its default.
        Assert.Equal([0L, 2.0, 4.0, 1.0, 2.0, 0.0], rows[0]);

        // Two days later (Nov 12 12:00): v4, v5, v6 in the 7-day window; the 24h window starts Nov 11 13:00, after v6.
        Assert.Equal([1L, 3.0, 6.0, 0.0, 3.0, 0.0], rows[1]);
    }

    [Fact]
    public async Task The_same_input_gives_a_byte_identical_file()
    {
        var random = new Random(7);
        var rows = new List<FeatureRow>();
        for (var i = 0; i < 5_000; i++)
        {
            var t = At(TimeSpan.FromMinutes(random.Next(-10_000, 10_000)));
            // Equal event times with different values and some late rows exercise the tie order and the fallback.
            rows.Add(OfflineKit.UserRow("u" + random.Next(50), i % 2 == 0 ? "user_clicks_total" : "user_impressions_total", random.Next(100), t - (t % 60_000), t + (random.Next(20) == 0 ? 3_600_000 : 0)));
        }

        await _kit.Store.WriteAsync(rows, CancellationToken.None);
        var labels = Enumerable.Range(0, 2_000).Select(i => UserLabel("u" + random.Next(60), At(TimeSpan.FromMinutes(random.Next(-10_000, 10_000))))).ToList();
        var features = new[] { "user_clicks_total", "user_impressions_total", "user_ctr" }.Select(OfflineKit.Feature).ToList();
        var builder = new TrainingSetBuilder(_kit.Store);
        var first = Path.Combine(_kit.Root, "first.parquet");
        var second = Path.Combine(_kit.Root, "second.parquet");
        var stats = await builder.BuildAsync(labels, features, first, CancellationToken.None);
        await builder.BuildAsync(labels, features, second, CancellationToken.None);

        Assert.True(stats.LateRowsExcluded > 0);
        Assert.Equal(SHA256.HashData(await File.ReadAllBytesAsync(first)), SHA256.HashData(await File.ReadAllBytesAsync(second)));
        var count = await OfflineKit.QueryAsync($"SELECT count(*), min(label_index), max(label_index) FROM read_parquet({OfflineKit.Sql(first)})");
        Assert.Equal([2_000L, 0L, 1_999L], count[0]);
    }
    [Fact]
    public async Task Equal_event_and_created_times_go_to_the_greatest_value_also_when_the_later_rows_are_excluded()
    {
        var t = At(TimeSpan.FromHours(-1));
        await _kit.Store.WriteAsync(
            [
                // Two rows with the same event and created time (two events of the same millisecond in one batch).
                OfflineKit.UserRow("u1", "user_clicks_total", 4, t, t),
                OfflineKit.UserRow("u1", "user_clicks_total", 7, t, t),
                // The same event time rewritten at T+1h, twice, with lower values: once visible, the latest write wins.
                OfflineKit.UserRow("u1", "user_clicks_total", 2, t, At(TimeSpan.FromHours(1))),
                OfflineKit.UserRow("u1", "user_clicks_total", 1, t, At(TimeSpan.FromHours(1))),
                OfflineKit.UserRow("u2", "user_clicks_total", 8, t, t),
                OfflineKit.UserRow("u2", "user_clicks_total", 3, t, t),
            ],
            CancellationToken.None);

        var rows = await BuildAsync(
            [UserLabel("u1", At(TimeSpan.Zero)), UserLabel("u1", At(TimeSpan.FromHours(2))), UserLabel("u2", At(TimeSpan.Zero))],
            "user_clicks_total");

        // At T the rewrite is not visible: the fallback picks the greater of the two earlier twins; from T+1h the rewrite.
        Assert.Equal([7.0, 2.0, 8.0], rows.Select(r => r[1]));
    }

    [Fact]
    public async Task A_late_row_at_the_start_of_a_window_falls_back_to_the_row_visible_at_the_label_time()
    {
        await _kit.Store.WriteAsync(
            [
                OfflineKit.UserRow("u1", "user_views_total", 3, OfflineKit.Ms(new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero))),
                // Before the 7-day window of T (it starts Nov 4 00:00), but written at T+1h.
                OfflineKit.UserRow("u1", "user_views_total", 5, OfflineKit.Ms(new DateTimeOffset(2026, 11, 3, 0, 0, 0, TimeSpan.Zero)), At(TimeSpan.FromHours(1))),
                OfflineKit.UserRow("u1", "user_views_total", 9, At(TimeSpan.FromHours(-1))),
            ],
            CancellationToken.None);

        var output = Path.Combine(_kit.Root, "window.parquet");
        var stats = await new TrainingSetBuilder(_kit.Store).BuildAsync(
            [UserLabel("u1", At(TimeSpan.Zero)), UserLabel("u1", At(TimeSpan.FromHours(2)))],
            [OfflineKit.Feature("user_views_7d"), OfflineKit.Feature("user_views_total")],
            output,
            CancellationToken.None);
        var rows = await OfflineKit.QueryAsync($"SELECT user_views_7d, user_views_total FROM read_parquet({OfflineKit.Sql(output)}) ORDER BY label_index");

        // At T the window's start sees the Nov 1 row (3), not the late Nov 3 one: 9 - 3; at T+2h it sees the Nov 3 row: 9 - 5.
        Assert.Equal([6.0, 9.0], rows[0]);
        Assert.Equal([4.0, 9.0], rows[1]);
        Assert.Equal(1, stats.LateRowsExcluded);
    }

    [Fact]
    public async Task Every_offline_feature_at_once_matches_a_brute_force_point_in_time_lookup()
    {
        // All the offline features of the built-in registry need more lookups than one statement joins, so this covers
        // the split into several statements, windows, ratios, creators and the fallback for late rows across them.
        var features = OfflineKit.Plan.Features.OrderBy(f => f.Name, StringComparer.Ordinal).ToList();
        Assert.True(features.SelectMany(f => f.Lookups).Distinct().Count() > 40);
        var stored = OfflineKit.Plan.Stored;
        var random = new Random(11);
        var rows = new List<FeatureRow>();
        for (var i = 0; i < 4_000; i++)
        {
            var feature = stored[random.Next(stored.Count)];
            var t = At(TimeSpan.FromMinutes(random.Next(-20_000, 2_000)));
            var created = random.Next(10) == 0 ? t + random.Next(1, 3 * 86_400_000) : t;
            var id = feature.EntityKind[0] + random.Next(6).ToString(System.Globalization.CultureInfo.InvariantCulture);
            rows.Add(OfflineKit.Row(feature.EntityKind, id, feature.Name, random.Next(1, 50), t, created));
            if (random.Next(20) == 0)
            {
                // An exact twin with another value.
                rows.Add(OfflineKit.Row(feature.EntityKind, id, feature.Name, random.Next(1, 50), t, created));
            }
        }

        await _kit.Store.WriteAsync(rows, CancellationToken.None);
        string Id(char kind) => kind + random.Next(7).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var labels = Enumerable.Range(0, 300)
            .Select(_ => new LabelRow(Id('u'), Id('i'), Id('c'), At(TimeSpan.FromMinutes(random.Next(-15_000, 3_000))), 1))
            .ToList();
        var output = Path.Combine(_kit.Root, "all.parquet");
        var stats = await new TrainingSetBuilder(_kit.Store).BuildAsync(labels, features, output, CancellationToken.None);
        var actual = await OfflineKit.QueryAsync(
            $"SELECT {string.Join(", ", features.Select(f => $"\"{f.Name}\""))} FROM read_parquet({OfflineKit.Sql(output)}) ORDER BY label_index");

        Assert.True(stats.LateRowsExcluded > 0);
        Assert.Equal(labels.Count, actual.Count);
        var index = rows.ToLookup(r => (r.EntityKind, r.EntityId, r.Feature));
        for (var i = 0; i < labels.Count; i++)
        {
            for (var k = 0; k < features.Count; k++)
            {
                var expected = Evaluate(features[k].Expression, labels[i], index) ?? features[k].Definition.DefaultNumber;
                Assert.True(Equals(expected, actual[i][k]), $"label {i}, {features[k].Name}: expected {expected}, got {actual[i][k]}");
            }
        }
    }

    /// <summary>The definition of a point-in-time value, by brute force over all rows.</summary>
    private static double? Evaluate(OfflineExpression expression, LabelRow label, ILookup<(string, string, string), FeatureRow> rows)
    {
        switch (expression)
        {
            case StoredValue s:
                return Lookup(s.At, label, rows);
            case WindowedValue w:
                return Lookup(w.At, label, rows) - (Lookup(w.Before, label, rows) ?? 0);
            case RatioValue r:
                var denominator = Evaluate(r.Denominator, label, rows);
                return denominator > 0 ? (Evaluate(r.Numerator, label, rows) ?? 0) / denominator : null;
            default:
                throw new ArgumentException("Unknown expression.", nameof(expression));
        }
    }

    private static double? Lookup(OfflineLookup lookup, LabelRow label, ILookup<(string, string, string), FeatureRow> rows)
    {
        var id = lookup.Stored.EntityKind switch
        {
            EntityKinds.User => label.UserId,
            EntityKinds.Item => label.ItemId,
            _ => label.CreatorId,
        };
        var probe = label.EventTimeMs;
        if (lookup.BeforeWindow is { } window)
        {
            var bucket = (long)window.Bucket.TotalMilliseconds;
            probe = (((long)Math.Floor(label.EventTimeMs / (double)bucket)) - (window.Buckets - 1)) * bucket - 1;
        }

        FeatureRow? best = null;
        foreach (var row in rows[(lookup.Stored.EntityKind, id!, lookup.Stored.Name)])
        {
            if (row.EventTimeMs <= probe && row.CreatedTimeMs <= label.EventTimeMs
                && (best is not { } b || (row.EventTimeMs, row.CreatedTimeMs, row.Value ?? 0).CompareTo((b.EventTimeMs, b.CreatedTimeMs, b.Value ?? 0)) > 0))
            {
                best = row;
            }
        }

        return best?.Value;
    }
}
