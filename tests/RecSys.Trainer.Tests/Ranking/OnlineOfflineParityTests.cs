using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using RecSys.Core.Domain;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.OnlineStores;
using RecSys.FeatureStore.Registry;
using RecSys.FeatureStore.Serving;
using RecSys.FeatureStore.Streaming;
using RecSys.FeatureStore.Telemetry;
using RecSys.Ranking.Features;
using RecSys.TestSupport;
using RecSys.Trainer.Ranking;

namespace RecSys.Trainer.Tests.Ranking;

/// <summary>
/// Training/serving parity: one event log applied to the online store (Garnet, through the stream processor's own write path)
/// and replayed by the Trainer's offline assembly gives the same ranking feature rows at the same time.
/// </summary>
public sealed class OnlineOfflineParityTests(EmbeddedGarnet garnet) : IClassFixture<EmbeddedGarnet>
{
    private static readonly DateTimeOffset Now = new(2026, 11, 20, 12, 0, 0, TimeSpan.Zero);
    private static readonly ServiceProvider Services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    private static readonly (string Id, string[] Categories)[] Items =
    [
        ("a", ["news"]), ("b", ["tech", "news"]), ("c", ["film"]), ("d", ["news"]), ("e", ["film", "music"]), ("f", []),
    ];

    /// <summary>Events over 40 days: ratings, clicks, views, impressions; a burst in the last 30 minutes for the session features.</summary>
    private static readonly (string User, string Item, EventType Type, double? Value, TimeSpan Ago)[] Events =
    [
        ("u1", "a", EventType.Rating, 4.5, TimeSpan.FromDays(40)),
        ("u1", "b", EventType.Click, null, TimeSpan.FromDays(12)),
        ("u1", "c", EventType.Impression, null, TimeSpan.FromDays(6)),
        ("u1", "c", EventType.Rating, 2, TimeSpan.FromDays(5)),
        ("u1", "d", EventType.View, null, TimeSpan.FromMinutes(20)),
        ("u1", "e", EventType.Like, null, TimeSpan.FromMinutes(5)),
        ("u2", "a", EventType.Purchase, null, TimeSpan.FromDays(2)),
        ("u2", "c", EventType.Click, null, TimeSpan.FromHours(30)),
        ("u2", "e", EventType.Rating, 3.5, TimeSpan.FromDays(8)),
        ("u3", "a", EventType.View, null, TimeSpan.FromDays(29)),
        ("u3", "b", EventType.Impression, null, TimeSpan.FromHours(2)),
        ("u3", "d", EventType.Like, null, TimeSpan.FromDays(3)),
    ];

    private static readonly Dictionary<string, float[]> ItemVectors = new(StringComparer.Ordinal)
    {
        ["a"] = [1, 0, 0.5f, 0], ["b"] = [0, 1, 0, 0.25f], ["c"] = [0.5f, 0.5f, 0, 0], ["d"] = [0, 0, 1, 0], ["e"] = [0.2f, 0, 0, 1],
    };

    private static readonly Dictionary<string, float[]> UserVectors = new(StringComparer.Ordinal) { ["u1"] = [0.3f, -0.2f, 0.9f, 0.1f] };

    [Fact]
    public async Task The_online_provider_and_the_offline_assembly_compute_the_same_rows()
    {
        var (telemetry, _, _) = await ApplyWorldAsync();

        var time = new FakeTimeProvider(Now);
        var store = new RedisOnlineFeatureStore(garnet.Connection, Options.Create(new OnlineStoreOptions { L1CacheTtl = TimeSpan.Zero }), telemetry, time,
            NullLogger<RedisOnlineFeatureStore>.Instance);
        var provider = new FeatureStoreRankingFeatureProvider(store, new FeatureRegistry(), Options.Create(new RankingFeatureProviderOptions()), time,
            Services.GetRequiredService<IMeterFactory>());

        var history = new EventHistory(
            Events.Select(e => new HistoryEvent(e.User, e.Item, (Now - e.Ago).ToUnixTimeMilliseconds(), e.Type, EventTypes.EngagementWeight(e.Type, e.Value))),
            Items.ToDictionary(i => i.Id, i => (IReadOnlyList<string>)i.Categories))
        {
            UserEmbeddings = UserVectors,
            ItemEmbeddings = ItemVectors,
        };

        string[] candidates = ["a", "b", "c", "d", "e", "f", "unknown"];
        // Default or not, per base value, the same on both sides (defaults are counted and flagged in serving).
        var registry = new FeatureRegistry();
        FeatureDefinition[] definitions = [.. RankingFeatureCatalog.UserFeatures.Concat(RankingFeatureCatalog.ItemFeatures).Select(n => registry.TryGet(n, out var d) ? d : throw new InvalidOperationException(n))];
        var raw = await store.GetAsync(new OnlineFeatureQuery([new EntityRef(EntityKinds.User, "u1"), .. candidates.Select(c => new EntityRef(EntityKinds.Item, c))], definitions));
        foreach (var result in raw)
        {
            var offline = result.Entity.Kind == EntityKinds.User ? history.UserAsOf(result.Entity.Id, Now.ToUnixTimeMilliseconds()) : history.ItemAsOf(result.Entity.Id, Now.ToUnixTimeMilliseconds());
            for (var i = 0; i < result.Values.Length; i++)
            {
                var name = result.Features[i].Name;
                Assert.True(offline.All.Any(p => p.Key == name) != result.Values[i].IsDefault, $"{result.Entity} {name}: online default {result.Values[i].IsDefault}");
            }
        }
        var columns = RankingFeatureCatalog.Names;
        foreach (var user in new[] { "u1", "u2", "u3", "nobody" })
        {
            using var online = await provider.FetchAsync(new RankingQuery(user, "home", Now), [.. candidates.Select(c => new RankingCandidate(c, 0, ["als"]))],
                columns, CancellationToken.None);

            var request = history.Request(user, Now.ToUnixTimeMilliseconds(), "home");
            var offline = new float[candidates.Length * columns.Count];
            var offlineDefaults = new RankingRowComputer(columns).Compute(request, [.. candidates.Select(c => history.ItemAsOf(c, Now.ToUnixTimeMilliseconds()))], offline);

            for (var r = 0; r < candidates.Length; r++)
            {
                for (var c = 0; c < columns.Count; c++)
                {
                    var expected = offline[(r * columns.Count) + c];
                    var actual = online.Row(r)[c];
                    Assert.True(Math.Abs(expected - actual) <= 1e-5 * Math.Max(1, Math.Abs(expected)),
                        $"{user}/{candidates[r]}/{columns[c]}: offline {expected}, online {actual}");
                }
            }

            Assert.Equal(offlineDefaults, online.DefaultedValues);
        }

        // The rows are not trivially equal: u1's session (d, e) and its recent items drive several features.
        using var u1 = await provider.FetchAsync(new RankingQuery("u1", null, Now), [new RankingCandidate("e", 0, [])], columns, CancellationToken.None);
        Assert.Equal(2, u1.Row(0)[Column("session_interaction_count")]);
        Assert.True(u1.Row(0)[Column("als_score")] != 0);
        Assert.True(u1.Row(0)[Column("recent_category_match")] > 0);
    }

    [Fact]
    public async Task An_unknown_column_is_refused_with_an_argument_exception()
    {
        var time = new FakeTimeProvider(Now);
        var telemetry = new FeatureStoreTelemetry(Services.GetRequiredService<IMeterFactory>(), new ProcessorState());
        var store = new RedisOnlineFeatureStore(garnet.Connection, Options.Create(new OnlineStoreOptions()), telemetry, time, NullLogger<RedisOnlineFeatureStore>.Instance);
        var provider = new FeatureStoreRankingFeatureProvider(store, new FeatureRegistry(), Options.Create(new RankingFeatureProviderOptions()), time,
            Services.GetRequiredService<IMeterFactory>());
        Assert.False(provider.Supports("no_such_feature"));
        Assert.True(provider.Supports("als_score"));
        await Assert.ThrowsAsync<ArgumentException>(async () =>
            await provider.FetchAsync(new RankingQuery("u1", null, Now), [new RankingCandidate("a", 0, [])], ["als_score", "no_such_feature"], CancellationToken.None));
    }

    [Fact]
    public async Task The_in_process_item_table_and_deferred_columns_give_the_rows_of_the_offline_assembly()
    {
        var (telemetry, applier, applied) = await ApplyWorldAsync();

        var time = new FakeTimeProvider(Now);
        var store = new RedisOnlineFeatureStore(garnet.Connection, Options.Create(new OnlineStoreOptions()), telemetry, time,
            NullLogger<RedisOnlineFeatureStore>.Instance);
        var options = Options.Create(new RankingFeatureProviderOptions { ItemTableChunk = 2, ItemTableChunksInFlight = 2 });
        var table = new ItemFeatureTable(store, new ItemCatalogReader(garnet.Connection), new FeatureRegistry(), options, time, Services.GetRequiredService<IMeterFactory>());
        Assert.Null(table.Current);
        var snapshot = await table.RefreshAsync(CancellationToken.None);
        Assert.Same(snapshot, table.Current);
        Assert.Equal(Items.Length, snapshot.Count);

        // The item cache is off, so a value the table lacks could only come from a per-request store read.
        var provider = new FeatureStoreRankingFeatureProvider(store, new FeatureRegistry(), Options.Create(new RankingFeatureProviderOptions { ItemCacheTtl = TimeSpan.Zero }),
            time, Services.GetRequiredService<IMeterFactory>(), table);
        var history = new EventHistory(
            Events.Select(e => new HistoryEvent(e.User, e.Item, (Now - e.Ago).ToUnixTimeMilliseconds(), e.Type, EventTypes.EngagementWeight(e.Type, e.Value))),
            Items.ToDictionary(i => i.Id, i => (IReadOnlyList<string>)i.Categories))
        {
            UserEmbeddings = UserVectors,
            ItemEmbeddings = ItemVectors,
        };

        // "unknown" is not in the table: read from the store in the request, as before.
        string[] candidates = ["a", "b", "c", "d", "e", "f", "unknown"];
        var columns = RankingFeatureCatalog.Names;
        const int eager = 10;
        int[] completed = [1, 4, 6];
        foreach (var user in new[] { "u1", "u2", "nobody" })
        {
            using var online = await provider.FetchAsync(new RankingQuery(user, "home", Now) { EagerColumns = eager },
                [.. candidates.Select(c => new RankingCandidate(c, 0, ["als"]))], columns, CancellationToken.None);
            online.CompleteRows(completed);

            var request = history.Request(user, Now.ToUnixTimeMilliseconds(), "home");
            var offline = new float[candidates.Length * columns.Count];
            _ = new RankingRowComputer(columns).Compute(request, [.. candidates.Select(c => history.ItemAsOf(c, Now.ToUnixTimeMilliseconds()))], offline);
            for (var r = 0; r < candidates.Length; r++)
            {
                // Rows not completed hold only the eager columns; the others are left at zero until asked for.
                var width = completed.Contains(r) ? columns.Count : eager;
                for (var c = 0; c < columns.Count; c++)
                {
                    var expected = c < width ? offline[(r * columns.Count) + c] : 0f;
                    var actual = online.Row(r)[c];
                    Assert.True(Math.Abs(expected - actual) <= 1e-5 * Math.Max(1, Math.Abs(expected)),
                        $"{user}/{candidates[r]}/{columns[c]}: offline {expected}, online {actual}");
                }
            }
        }

        // A refresh swaps in a new snapshot with the store's current values; the old one is left as it was.
        List<LogEntry> late = [new(applied, applied + 1, TestData.Event("late", "u2", "f", EventType.Purchase, Now.AddMinutes(-1)))];
        Assert.True((await applier.ApplyAsync(late, applied, applied + 1)).Committed);
        Assert.False(snapshot.TryGet("f", out var before) && before.TryNumber(RankingFeatureCatalog.ItemEventsTotal, out _));
        var next = await table.RefreshAsync(CancellationToken.None);
        Assert.True(next.Version > snapshot.Version);
        Assert.True(next.TryGet("f", out var after) && after.TryNumber(RankingFeatureCatalog.ItemEventsTotal, out var events) && events == 1);
    }

    private static int Column(string name) => RankingFeatureCatalog.Names.ToList().IndexOf(name);

    /// <summary>
    /// The test world in the store as serving reads it: the items and events applied by the stream processor's applier, and
    /// the embeddings published as a version, then the active pointer. Returns the applier and how many log entries it applied.
    /// </summary>
    private async Task<(FeatureStoreTelemetry Telemetry, OnlineApplier Applier, int Applied)> ApplyWorldAsync()
    {
        garnet.Flush();
        var telemetry = new FeatureStoreTelemetry(Services.GetRequiredService<IMeterFactory>(), new ProcessorState());
        var applier = new OnlineApplier(garnet.Connection, telemetry);
        await applier.InitializeAsync();
        var records = new List<LogRecord>();
        records.AddRange(Items.Select(i => (LogRecord)TestData.Item(i.Id, null, i.Categories, Now.AddDays(-60))));
        records.AddRange(Events.Select((e, n) => (LogRecord)TestData.Event($"e{n}", e.User, e.Item, e.Type, Now - e.Ago, e.Value)));
        var entries = TestData.Entries(records);
        Assert.True((await applier.ApplyAsync(entries, 0, entries.Count)).Committed);
        var embeddings = new EmbeddingStore(garnet.Connection);
        await embeddings.CreateVersionAsync("v1", 4, CancellationToken.None);
        await embeddings.SetItemsAsync("v1", [.. ItemVectors.Select(p => (p.Key, p.Value))], CancellationToken.None);
        await embeddings.SetUsersAsync("v1", [.. UserVectors.Select(p => (p.Key, p.Value))], CancellationToken.None);
        await embeddings.ActivateAsync("v1", CancellationToken.None);
        return (telemetry, applier, entries.Count);
    }
}
