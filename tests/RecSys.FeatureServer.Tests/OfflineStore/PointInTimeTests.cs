using System.Security.Cryptography;
using RecSys.Core.Domain;
using RecSys.FeatureServer.EventLog;
using RecSys.FeatureServer.OfflineStore;

namespace RecSys.FeatureServer.Tests.OfflineStore;

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
}
