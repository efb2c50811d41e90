using RecSys.FeatureStore.OfflineStore;
using RecSys.FeatureStore.Streaming;
using RecSys.TestSupport;

namespace RecSys.FeatureStore.Tests.OfflineStore;

public sealed class OfflineStoreWriterTests : IDisposable
{
    private readonly OfflineKit _kit = new();

    public void Dispose() => _kit.Dispose();

    [Fact]
    public async Task Rows_are_read_back_by_DuckDB_partitioned_by_event_date()
    {
        var day1 = OfflineKit.Ms(new DateTimeOffset(2026, 11, 1, 23, 59, 59, TimeSpan.Zero));
        var day2 = OfflineKit.Ms(new DateTimeOffset(2026, 11, 2, 0, 0, 1, TimeSpan.Zero));
        var rows = new List<FeatureRow>
        {
            OfflineKit.UserRow("u1", "user_clicks_total", 3, day1, day1 + 5),
            OfflineKit.Row(EntityKinds.Item, "i1", "item_views_total", 7.5, day2, day2 + 9),
            new(EntityKinds.User, "u2", "user_recent_items", null, "i1|i2", day2, day2),
        };
        // More rows than a row group (1,000 in the kit) to write several groups in one file.
        rows.AddRange(Enumerable.Range(0, 2_500).Select(i => OfflineKit.UserRow("u" + i, "user_events_total", i, day1 - i, day1)));

        var files = await _kit.Store.WriteAsync(rows, CancellationToken.None);

        Assert.Equal(2, files.Count);
        Assert.Contains(files, f => f.Contains(Path.Combine("date=2026-11-01", "part-"), StringComparison.Ordinal));
        Assert.Contains(files, f => f.Contains(Path.Combine("date=2026-11-02", "part-"), StringComparison.Ordinal));
        Assert.Empty(Directory.EnumerateFiles(_kit.Store.Directory, "*.tmp", SearchOption.AllDirectories));
        Assert.True(_kit.Store.HasData());

        var source = OfflineLayout.ReadParquetSql(_kit.Store.Directory);
        var back = await OfflineKit.QueryAsync($"SELECT entity_kind, entity_id, feature, value, ids, event_time_ms, created_time_ms, CAST(date AS VARCHAR) FROM {source} WHERE entity_id IN ('u1', 'i1', 'u2') AND feature <> 'user_events_total' ORDER BY entity_id");
        Assert.Equal(3, back.Count);
        Assert.Equal(["item", "i1", "item_views_total", 7.5, null, day2, day2 + 9, "2026-11-02"], back[0]);
        Assert.Equal(["user", "u1", "user_clicks_total", 3.0, null, day1, day1 + 5, "2026-11-01"], back[1]);
        Assert.Equal(["user", "u2", "user_recent_items", null, "i1|i2", day2, day2, "2026-11-02"], back[2]);

        var counts = await OfflineKit.QueryAsync($"SELECT count(*), sum(value) FROM {source} WHERE feature = 'user_events_total'");
        Assert.Equal(2_500L, counts[0][0]);
        Assert.Equal(Enumerable.Range(0, 2_500).Sum(i => (double)i), counts[0][1]);
    }

    [Fact]
    public async Task An_empty_write_creates_no_file()
    {
        Assert.Empty(await _kit.Store.WriteAsync([], CancellationToken.None));
        Assert.False(_kit.Store.HasData());
    }
}
