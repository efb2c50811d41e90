using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RecSys.Core.Domain;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.OnlineStores;
using RecSys.FeatureStore.Registry;
using RecSys.FeatureStore.Streaming;
using RecSys.FeatureStore.Telemetry;
using RecSys.TestSupport;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Tests.OnlineStores;

/// <summary>
/// The contract every <see cref="IOnlineFeatureStore"/> on a Redis-protocol server meets, values written by the stream
/// processor's Lua (<see cref="OnlineApplier"/>). Concrete classes give the server: Garnet, redis-server.
/// </summary>
public abstract class OnlineFeatureStoreContract
{
    private static readonly ServiceProvider Services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private static readonly DateTimeOffset Now = new(2026, 11, 20, 12, 7, 30, TimeSpan.Zero);

    private readonly IConnectionMultiplexer _redis;
    private readonly FeatureRegistry _registry = new();

    protected OnlineFeatureStoreContract(IConnectionMultiplexer redis, Action flush)
    {
        _redis = redis;
        flush();
    }

    private ManualTime Time { get; } = new(Now);

    private RedisOnlineFeatureStore Store(TimeSpan? l1 = null, TimeSpan? versionTtl = null) => new(
        _redis,
        Options.Create(new OnlineStoreOptions { L1CacheTtl = l1 ?? TimeSpan.Zero, ActiveEmbeddingVersionCacheTtl = versionTtl ?? TimeSpan.Zero }),
        new FeatureStoreTelemetry(Services.GetRequiredService<IMeterFactory>()),
        Time,
        NullLogger<RedisOnlineFeatureStore>.Instance);

    private FeatureDefinition[] Features(params string[] names) => [.. names.Select(n => _registry.TryGet(n, out var d) ? d : throw new ArgumentException(n))];

    private async Task ApplyAsync(IEnumerable<LogRecord> records)
    {
        var applier = new OnlineApplier(_redis, Infrastructure.Metrics());
        await applier.InitializeAsync();
        var entries = TestData.Entries(records);
        foreach (var chunk in entries.Chunk(200))
        {
            await applier.ApplyEffectsAsync(chunk);
        }
    }

    private static Dictionary<string, FeatureValue> ValuesOf(EntityFeatureValues result) =>
        result.Features.Select((f, i) => (f.Name, result.Values[i])).ToDictionary(p => p.Name, p => p.Item2);

    [StoreFact]
    public async Task Missing_values_are_the_definitions_defaults_flagged()
    {
        var results = await Store().GetAsync(new OnlineFeatureQuery(
            [new EntityRef(EntityKinds.User, "nobody"), new EntityRef(EntityKinds.Item, "nothing"), new EntityRef(EntityKinds.UserItem, "nobody:nothing")],
            Features("user_clicks_total", "user_ctr_24h", "user_recent_items", "user_category_distribution_7d", "item_popularity", "item_views_7d", "user_item_creator_affinity")));

        Assert.Equal(3, results.Count);
        Assert.All(results.SelectMany(r => r.Values), v => Assert.True(v.IsDefault));
        var user = ValuesOf(results[0]);
        Assert.Equal(["user_clicks_total", "user_ctr_24h", "user_recent_items", "user_category_distribution_7d"], user.Keys);
        Assert.Equal(0, user["user_clicks_total"].Number);
        Assert.Empty(user["user_recent_items"].Ids!);
        Assert.Equal(["item_popularity", "item_views_7d"], ValuesOf(results[1]).Keys);
        Assert.Equal(0, ValuesOf(results[2])["user_item_creator_affinity"].Number);
    }

    [StoreFact]
    public async Task Counters_and_windowed_aggregates_match_the_definitions_under_duplicates_and_out_of_order_events()
    {
        var random = new Random(11);
        var items = Enumerable.Range(0, 6).Select(i => TestData.Item($"i{i}", $"c{i % 2}", [i % 2 == 0 ? "news" : "tech"], Now.AddDays(-60))).ToList();
        EventType[] types = [EventType.Impression, EventType.Impression, EventType.View, EventType.Click, EventType.Like, EventType.Purchase];
        var events = new List<InteractionEvent>();
        for (var e = 0; e < 600; e++)
        {
            // Times spread over 40 days before now, denser in the last hours, so every window and ring edge is crossed.
            var age = random.NextDouble() < 0.5 ? TimeSpan.FromMinutes(random.Next(0, 180)) : TimeSpan.FromMinutes(random.Next(0, 40 * 24 * 60));
            events.Add(new InteractionEvent($"e{e}", $"u{random.Next(3)}", $"i{random.Next(6)}", null, types[random.Next(types.Length)], null, Now - age));
        }

        // Reverse-ordered, then shuffled again with duplicates: applied exactly once each.
        var delivered = events.AsEnumerable().Reverse().Concat(events.OrderBy(_ => random.Next()).Take(300)).Select(e => new EventRecord(e));
        await ApplyAsync(items.Cast<LogRecord>().Concat(delivered));

        var features = _registry.Definitions.Where(d => d.Transform is AggregateTransform or RatioTransform && d.EntityKind != EntityKinds.UserItem).ToArray();
        var entities = new List<EntityRef>();
        entities.AddRange(Enumerable.Range(0, 3).Select(u => new EntityRef(EntityKinds.User, $"u{u}")));
        entities.AddRange(Enumerable.Range(0, 6).Select(i => new EntityRef(EntityKinds.Item, $"i{i}")));
        entities.AddRange(Enumerable.Range(0, 2).Select(c => new EntityRef(EntityKinds.Creator, $"c{c}")));
        var results = await Store().GetAsync(new OnlineFeatureQuery(entities, features));

        var checkedValues = 0;
        foreach (var result in results)
        {
            var mine = events.Where(e => Of(result.Entity, e)).ToList();
            for (var i = 0; i < result.Features.Count; i++)
            {
                var expected = Reference(result.Features[i].Transform, mine, Now.ToUnixTimeMilliseconds());
                var actual = result.Values[i].Number!.Value;
                Assert.True(Math.Abs(expected - actual) < 1e-9, $"{result.Entity} {result.Features[i].Name}: expected {expected}, got {actual}");
                checkedValues++;
            }
        }

        Assert.Equal(246, checkedValues);
        Assert.Contains(results, r => r.Values.Any(v => v.Number > 0 && !v.IsDefault));
    }

    [StoreFact]
    public async Task Writes_carry_event_time_and_older_or_equal_values_are_refused()
    {
        var store = Store();
        var user = new EntityRef(EntityKinds.User, "w1");
        var t = Now.AddMinutes(-10);
        var first = await store.WriteIfNewerAsync([new FeatureWrite(user, FeatureFields.ClicksTotal, 5, t)]);
        Assert.Equal([true], first);
        var second = await store.WriteIfNewerAsync(
        [
            new FeatureWrite(user, FeatureFields.ClicksTotal, 3, t.AddMinutes(-1)),
            new FeatureWrite(user, FeatureFields.ClicksTotal, 4, t),
            new FeatureWrite(user, FeatureFields.ImpressionsTotal, 10, t.AddMinutes(-1)),
        ]);
        Assert.Equal([false, false, true], second);

        var values = ValuesOf((await store.GetAsync(new OnlineFeatureQuery([user], Features("user_clicks_total", "user_ctr"))))[0]);
        Assert.Equal(5, values["user_clicks_total"].Number);
        Assert.Equal(t, values["user_clicks_total"].EventTime);
        Assert.Equal(0.5, values["user_ctr"].Number);
        Assert.Equal(t, values["user_ctr"].EventTime);

        var third = await store.WriteIfNewerAsync([new FeatureWrite(user, FeatureFields.ClicksTotal, 6, t.AddMilliseconds(1))]);
        Assert.Equal([true], third);
        Assert.Equal(6, ValuesOf((await store.GetAsync(new OnlineFeatureQuery([user], Features("user_clicks_total"))))[0])["user_clicks_total"].Number);
    }

    [StoreFact]
    public async Task Values_past_freshness_are_served_flagged_and_counted_and_past_ttl_are_defaults()
    {
        var feature = new FeatureDefinition("clicks_checked", EntityKinds.User, FeatureValueType.Number,
            new AggregateTransform(FeatureFields.ClicksTotal, [EventType.Click], EventAmount.One, null), TimeSpan.FromHours(2), TimeSpan.FromMinutes(10), -1, "test");
        var user = new EntityRef(EntityKinds.User, "s1");
        var store = Store();
        await store.WriteIfNewerAsync([new FeatureWrite(user, FeatureFields.ClicksTotal, 7, Now)]);
        long stale = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == FeatureStoreTelemetry.Name && instrument.Name == "recsys.features.stale")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref stale, value));
        listener.Start();

        async Task<FeatureValue> ReadAsync() => (await store.GetAsync(new OnlineFeatureQuery([user], [feature])))[0].Values[0];

        Time.Set(Now.AddMinutes(5));
        Assert.Equal(new FeatureValue(7, null, Now, false, false), await ReadAsync());
        Time.Set(Now.AddMinutes(30));
        Assert.Equal(new FeatureValue(7, null, Now, false, true), await ReadAsync());
        Assert.Equal(new FeatureValue(7, null, Now, false, true), await ReadAsync());
        Assert.Equal(2, Interlocked.Read(ref stale));
        Time.Set(Now.AddHours(3));
        Assert.Equal(new FeatureValue(-1, null, null, true, false), await ReadAsync());
    }

    [StoreFact]
    public async Task The_l1_cache_serves_values_until_its_ttl_passes()
    {
        var store = Store(TimeSpan.FromSeconds(1));
        var item = new EntityRef(EntityKinds.Item, "l1");
        var query = new OnlineFeatureQuery([item], Features("item_clicks_total"));
        await store.WriteIfNewerAsync([new FeatureWrite(item, FeatureFields.ClicksTotal, 1, Now.AddMinutes(-2))]);
        Assert.Equal(1, (await store.GetAsync(query))[0].Values[0].Number);

        await store.WriteIfNewerAsync([new FeatureWrite(item, FeatureFields.ClicksTotal, 2, Now.AddMinutes(-1))]);
        Time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Equal(1, (await store.GetAsync(query))[0].Values[0].Number);
        Time.Advance(TimeSpan.FromMilliseconds(600));
        Assert.Equal(2, (await store.GetAsync(query))[0].Values[0].Number);
        Assert.Equal(2, (await Store().GetAsync(query))[0].Values[0].Number);
    }

    [StoreFact]
    public async Task Session_recent_distribution_popularity_and_cross_features_come_from_events()
    {
        await ApplyAsync(
        [
            TestData.Item("a", "c1", ["news"], Now.AddDays(-9)),
            TestData.Item("b", "c2", ["tech", "news"], Now.AddDays(-9)),
            TestData.Item("c", "c2", ["film"], Now.AddDays(-9)),
            TestData.Event("x1", "u1", "a", EventType.Click, Now.AddDays(-10)),
            TestData.Event("x2", "u1", "b", EventType.View, Now.AddHours(-2)),
            TestData.Event("x3", "u1", "a", EventType.Like, Now.AddMinutes(-20)),
            TestData.Event("x4", "u1", "c", EventType.Impression, Now.AddMinutes(-5)),
            TestData.Event("x5", "u1", null, EventType.Follow, Now.AddMinutes(-4), creator: "c2"),
            TestData.Event("x3", "u1", "a", EventType.Like, Now.AddMinutes(-20)),
        ]);

        var results = await Store().GetAsync(new OnlineFeatureQuery(
            [new EntityRef(EntityKinds.User, "u1"), new EntityRef(EntityKinds.Item, "a"), new EntityRef(EntityKinds.UserItem, "u1:b"), new EntityRef(EntityKinds.UserItem, "u1:c")],
            Features("user_recent_items", "user_session_items", "user_category_distribution_7d", "user_category_distribution_30d", "user_followed_creators",
                "user_top_categories", "item_popularity", "user_item_category_affinity", "user_item_creator_affinity")));

        var user = ValuesOf(results[0]);
        Assert.Equal(["a", "b"], user["user_recent_items"].Ids);
        Assert.Equal(Now.AddMinutes(-20), user["user_recent_items"].EventTime);
        Assert.Equal(["a"], user["user_session_items"].Ids);
        // 7 days: like on a (news, 3) and view on b (tech and news, 1 each): news 4 of 5, tech 1 of 5.
        Assert.Equal(["news=0.8", "tech=0.2"], user["user_category_distribution_7d"].Ids);
        // 30 days adds the click on a (news, 2).
        Assert.Equal(["news=0.8571", "tech=0.1429"], user["user_category_distribution_30d"].Ids);
        Assert.Equal(["c2"], user["user_followed_creators"].Ids);
        Assert.Equal("news", user["user_top_categories"].Ids![0]);
        Assert.True(ValuesOf(results[1])["item_popularity"].Number > 0);

        // Engagement total 2 + 1 + 3 = 6; news 6 of it. Creator c2: view on b (1) + follow (5).
        var b = ValuesOf(results[2]);
        Assert.Equal(1.0, b["user_item_category_affinity"].Number!.Value, 9);
        Assert.Equal(6, b["user_item_creator_affinity"].Number);
        var c = ValuesOf(results[3]);
        Assert.True(c["user_item_category_affinity"].IsDefault);
        Assert.Equal(6, c["user_item_creator_affinity"].Number);
    }

    [StoreFact]
    public async Task The_moved_user_embedding_follows_engagements_in_event_time_order_exactly_once()
    {
        var db = _redis.GetDatabase();
        float[] i1 = [1, 0, 0, 0.5f], i2 = [0, 1, 0, -0.5f], i3 = [0, 0, 1, 0], baseVector = [0.2f, 0.2f, 0.2f, 0.2f];
        await db.StringSetAsync(FeatureStore.Keys.OnlineKeys.ItemEmbedding("i1"), FeatureStore.Keys.EmbeddingBytes.ToBytes(i1));
        await db.StringSetAsync(FeatureStore.Keys.OnlineKeys.ItemEmbedding("i2"), FeatureStore.Keys.EmbeddingBytes.ToBytes(i2));
        await db.StringSetAsync(FeatureStore.Keys.OnlineKeys.ItemEmbedding("i3"), FeatureStore.Keys.EmbeddingBytes.ToBytes(i3));
        await db.StringSetAsync(FeatureStore.Keys.OnlineKeys.UserEmbedding("u1"), FeatureStore.Keys.EmbeddingBytes.ToBytes(baseVector));
        var t = Now.AddHours(-2);

        // u1 has a base; within one batch its events arrive out of order, an impression (no engagement) and an item
        // without an embedding are ignored. u2 has no base: it starts from its first item.
        List<LogRecord> records =
        [
            TestData.Event("e2", "u1", "i2", EventType.Like, t.AddMinutes(2)),
            TestData.Event("e1", "u1", "i1", EventType.Click, t.AddMinutes(1)),
            TestData.Event("e0", "u1", "i3", EventType.Impression, t.AddMinutes(3)),
            TestData.Event("e9", "u1", "i-none", EventType.Click, t.AddMinutes(4)),
            TestData.Event("f1", "u2", "i3", EventType.View, t.AddMinutes(1)),
            TestData.Event("f2", "u2", "i1", EventType.View, t.AddMinutes(5)),
        ];
        await ApplyAsync(records);
        var expectedU1 = Ema(Ema(baseVector, i1), i2);
        var expectedU2 = Ema(i3, i1);
        await AssertMovedAsync("u1", expectedU1, t.AddMinutes(2));
        await AssertMovedAsync("u2", expectedU2, t.AddMinutes(5));

        // Redelivered, and a late event older than the last one folded in: nothing moves.
        await ApplyAsync([.. records, TestData.Event("e-late", "u1", "i3", EventType.Purchase, t)]);
        await AssertMovedAsync("u1", expectedU1, t.AddMinutes(2));
        await AssertMovedAsync("u2", expectedU2, t.AddMinutes(5));

        // A newer event moves it on.
        await ApplyAsync([TestData.Event("e3", "u1", "i3", EventType.Purchase, t.AddMinutes(10))]);
        await AssertMovedAsync("u1", Ema(expectedU1, i3), t.AddMinutes(10));

        // The published embeddings are served as vectors too.
        var results = await Store().GetAsync(new OnlineFeatureQuery(
            [new EntityRef(EntityKinds.User, "u1"), new EntityRef(EntityKinds.Item, "i2"), new EntityRef(EntityKinds.Item, "i-none")],
            Features("user_embedding", "item_embedding")));
        Assert.Equal(baseVector, ValuesOf(results[0])["user_embedding"].Vector);
        Assert.Equal(i2, ValuesOf(results[1])["item_embedding"].Vector);
        Assert.True(ValuesOf(results[2])["item_embedding"].IsDefault);
        Assert.Null(ValuesOf(results[2])["item_embedding"].Vector);
    }

    [StoreFact]
    public async Task Embedding_features_are_read_under_the_active_version_resolved_once_per_read()
    {
        var embeddings = new FeatureStore.Serving.EmbeddingStore(_redis);
        float[] oldUser = [1, 0, 0, 0], oldItem = [0, 1, 0, 0], newUser = [0, 0, 1, 0], newItem = [0, 0, 0, 1];
        await embeddings.SetUsersAsync(Keys.EmbeddingKeys.Unversioned, [("u1", oldUser)], CancellationToken.None);
        await embeddings.SetItemsAsync(Keys.EmbeddingKeys.Unversioned, [("i1", oldItem)], CancellationToken.None);
        await embeddings.CreateVersionAsync("v2", 4, CancellationToken.None);
        await embeddings.SetUsersAsync("v2", [("u1", newUser)], CancellationToken.None);
        await embeddings.SetItemsAsync("v2", [("i1", newItem)], CancellationToken.None);
        var query = new OnlineFeatureQuery(
            [new EntityRef(EntityKinds.User, "u1"), new EntityRef(EntityKinds.Item, "i1")],
            Features("user_embedding", "item_embedding"));

        // Before the first activation the unversioned keys serve; staged v2 is invisible.
        var before = await Store().GetAsync(query);
        Assert.Equal(oldUser, ValuesOf(before[0])["user_embedding"].Vector);
        Assert.Equal(oldItem, ValuesOf(before[1])["item_embedding"].Vector);

        await embeddings.ActivateAsync("v2", CancellationToken.None);
        var after = await Store().GetAsync(query);
        Assert.Equal(newUser, ValuesOf(after[0])["user_embedding"].Vector);
        Assert.Equal(newItem, ValuesOf(after[1])["item_embedding"].Vector);
    }

    [StoreFact]
    public async Task A_reused_active_version_serves_one_version_per_read_and_the_switch_within_its_ttl()
    {
        var embeddings = new FeatureStore.Serving.EmbeddingStore(_redis);
        float[] oldUser = [1, 0, 0, 0], oldItem = [0, 1, 0, 0], newUser = [0, 0, 1, 0], newItem = [0, 0, 0, 1];
        await embeddings.CreateVersionAsync("v1", 4, CancellationToken.None);
        await embeddings.SetUsersAsync("v1", [("u1", oldUser)], CancellationToken.None);
        await embeddings.SetItemsAsync("v1", [("i1", oldItem)], CancellationToken.None);
        await embeddings.ActivateAsync("v1", CancellationToken.None);
        await embeddings.CreateVersionAsync("v2", 4, CancellationToken.None);
        await embeddings.SetUsersAsync("v2", [("u1", newUser)], CancellationToken.None);
        await embeddings.SetItemsAsync("v2", [("i1", newItem)], CancellationToken.None);
        var query = new OnlineFeatureQuery(
            [new EntityRef(EntityKinds.User, "u1"), new EntityRef(EntityKinds.Item, "i1")],
            Features("user_embedding", "item_embedding"));
        var store = Store(versionTtl: TimeSpan.FromSeconds(2));

        var first = await store.GetAsync(query);
        Assert.Equal(oldUser, ValuesOf(first[0])["user_embedding"].Vector);
        await embeddings.ActivateAsync("v2", CancellationToken.None);

        // Within the TTL the pointer is not read again (v1 is served after the switch), and the whole answer is v1's (never the user of one version and the item of the other).
        Time.Advance(TimeSpan.FromSeconds(1));
        var within = await store.GetAsync(query);
        Assert.Equal(oldUser, ValuesOf(within[0])["user_embedding"].Vector);
        Assert.Equal(oldItem, ValuesOf(within[1])["item_embedding"].Vector);

        // A bulk read (no in-process caches) reads the pointer and sees v2 at once.
        var bulk = await store.GetAsync(query with { UseL1Cache = false });
        Assert.Equal(newUser, ValuesOf(bulk[0])["user_embedding"].Vector);
        Assert.Equal(newItem, ValuesOf(bulk[1])["item_embedding"].Vector);

        // Past the TTL (counted from the last read of the pointer) the switch shows, whole.
        Time.Advance(TimeSpan.FromSeconds(2.5));
        var after = await store.GetAsync(query);
        Assert.Equal(newUser, ValuesOf(after[0])["user_embedding"].Vector);
        Assert.Equal(newItem, ValuesOf(after[1])["item_embedding"].Vector);
    }

    private async Task AssertMovedAsync(string user, float[] expected, DateTimeOffset eventTime)
    {
        var results = await Store().GetAsync(new OnlineFeatureQuery([new EntityRef(EntityKinds.User, user)], Features("user_embedding_ema")));
        var value = ValuesOf(results[0])["user_embedding_ema"];
        Assert.False(value.IsDefault);
        Assert.Equal(eventTime, value.EventTime);
        Assert.Equal(expected.Length, value.Vector!.Length);
        for (var d = 0; d < expected.Length; d++)
        {
            Assert.Equal(expected[d], value.Vector[d], 6);
        }
    }

    private static float[] Ema(float[] current, float[] item) =>
        [.. current.Select((c, d) => (0.9f * c) + (0.1f * item[d]))];

    private static bool Of(EntityRef entity, InteractionEvent e) => entity.Kind switch
    {
        EntityKinds.User => e.UserId == entity.Id,
        EntityKinds.Item => e.ItemId == entity.Id,
        // Creators: c0 owns the even items, c1 the odd ones; only engaged events count.
        EntityKinds.Creator => e.ItemId is { } item && $"c{int.Parse(item[1..], System.Globalization.CultureInfo.InvariantCulture) % 2}" == entity.Id
            && EventTypes.EngagementWeight(e.Type, e.Value) > 0,
        _ => false,
    };

    /// <summary>The definition evaluated over the full event set, as the offline backfill does.</summary>
    private static double Reference(FeatureTransform transform, List<InteractionEvent> events, long nowMs) => transform switch
    {
        AggregateTransform a => events
            .Where(e => a.EventTypes.Count == 0 || a.EventTypes.Contains(e.Type))
            .Where(e => a.Window is null || a.Window.Contains(e.EventTime.ToUnixTimeMilliseconds(), nowMs))
            .Sum(e => a.Amount == EventAmount.One ? 1 : Math.Max(0, EventTypes.EngagementWeight(e.Type, e.Value))),
        RatioTransform r => Reference(r.Denominator, events, nowMs) is > 0 and var d ? Reference(r.Numerator, events, nowMs) / d : 0,
        _ => throw new ArgumentOutOfRangeException(nameof(transform)),
    };
}
