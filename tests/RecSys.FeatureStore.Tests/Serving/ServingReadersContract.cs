using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using RecSys.Core.Domain;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.Serving;
using RecSys.FeatureStore.Streaming;
using RecSys.FeatureStore.Tests.OnlineStores;
using RecSys.TestSupport;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Tests.Serving;

/// <summary>
/// The contract of the typed serving readers (<see cref="CandidateSignalReader"/>, <see cref="EligibilityFilter"/>,
/// <see cref="ItemMetadataReader"/>, <see cref="EmbeddingStore"/>) on a Redis-protocol server. The state is written by the
/// stream processor's own write path (<see cref="OnlineApplier"/> applying item upserts and events), so the readers are checked
/// against what the writer really produces. Concrete classes give the server: Garnet, redis-server.
/// </summary>
public abstract class ServingReadersContract
{
    private static readonly DateTimeOffset Now = new(2026, 11, 20, 12, 0, 0, TimeSpan.Zero);

    private readonly IConnectionMultiplexer _redis;

    protected ServingReadersContract(IConnectionMultiplexer redis, Action flush)
    {
        _redis = redis;
        flush();
    }

    private CandidateSignalReader Signals => new(_redis);

    private static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();

    private async Task ApplyAsync(IEnumerable<LogRecord> records)
    {
        var applier = new OnlineApplier(_redis, Infrastructure.Metrics());
        await applier.InitializeAsync();
        foreach (var chunk in TestData.Entries(records).Chunk(50))
        {
            await applier.ApplyEffectsAsync(chunk);
        }
    }

    /// <summary>
    /// Items a..e and engagements all at one instant, so that decayed popularity is the plain sum of engagement weights:
    /// a 5 + 2 = 7, b 3, c 1; d only seen in an impression (weight 0); e never.
    /// </summary>
    private Task ApplySameInstantWorldAsync() => ApplyAsync(
    [
        TestData.Item("a", "c1", ["news"], Now.AddDays(-3)),
        TestData.Item("b", "c2", ["tech", "news"], Now.AddDays(-5)),
        TestData.Item("c", "c2", ["film"], Now.AddDays(-1)),
        TestData.Item("d", "c1", ["news"], Now.AddDays(-2)),
        TestData.Item("e", null, [], Now.AddDays(-4)),
        TestData.Event("e1", "u1", "a", EventType.Purchase, Now),
        TestData.Event("e2", "u2", "a", EventType.Click, Now),
        TestData.Event("e3", "u1", "b", EventType.Like, Now),
        TestData.Event("e4", "u3", "c", EventType.View, Now),
        TestData.Event("e5", "u2", "d", EventType.Impression, Now),
    ]);

    /// <summary>
    /// One user's history over the last hour. u1: click a (-50 min), like b (-40), impression on c (-30), follow c3 (-20),
    /// view c (-10), follow c1 (-5), click a again (-1).
    /// </summary>
    private Task ApplyUserHistoryAsync() => ApplyAsync(
    [
        TestData.Item("a", "c1", ["news"], Now.AddDays(-3)),
        TestData.Item("b", "c2", ["tech", "news"], Now.AddDays(-5)),
        TestData.Item("c", "c2", ["film"], Now.AddDays(-1)),
        TestData.Event("h1", "u1", "a", EventType.Click, Now.AddMinutes(-50)),
        TestData.Event("h2", "u1", "b", EventType.Like, Now.AddMinutes(-40)),
        TestData.Event("h3", "u1", "c", EventType.Impression, Now.AddMinutes(-30)),
        TestData.Event("h4", "u1", null, EventType.Follow, Now.AddMinutes(-20), creator: "c3"),
        TestData.Event("h5", "u1", "c", EventType.View, Now.AddMinutes(-10)),
        TestData.Event("h6", "u1", null, EventType.Follow, Now.AddMinutes(-5), creator: "c1"),
        TestData.Event("h7", "u1", "a", EventType.Click, Now.AddMinutes(-1)),
    ]);

    private static void AssertMembers(IReadOnlyList<(string Member, double Score)> expected, IReadOnlyList<ScoredMember> actual)
    {
        Assert.Equal(expected.Select(e => e.Member), actual.Select(a => a.Member));
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Score, actual[i].Score, 9);
        }
    }

    [StoreFact]
    public async Task Trending_is_empty_on_an_empty_store_and_for_a_count_of_zero()
    {
        Assert.Empty(await Signals.ReadTrendingAsync(10, CancellationToken.None));
        await ApplySameInstantWorldAsync();
        Assert.Empty(await Signals.ReadTrendingAsync(0, CancellationToken.None));
    }

    [StoreFact]
    public async Task Trending_lists_engaged_items_best_first_scored_by_their_share_of_the_best()
    {
        await ApplySameInstantWorldAsync();

        AssertMembers([("a", 1), ("b", 3.0 / 7), ("c", 1.0 / 7)], await Signals.ReadTrendingAsync(10, CancellationToken.None));
        AssertMembers([("a", 1), ("b", 3.0 / 7)], await Signals.ReadTrendingAsync(2, CancellationToken.None));
    }

    [StoreFact]
    public async Task Trending_weighs_older_engagements_down_by_the_half_life()
    {
        // The same engagement one half-life apart: the newer counts twice as much, whatever the order they arrive in.
        await ApplyAsync(
        [
            TestData.Item("old", "c1", ["news"]),
            TestData.Item("new", "c1", ["news"]),
            TestData.Event("o1", "u1", "old", EventType.Click, Now - DecayedScore.HalfLife),
            TestData.Event("n1", "u2", "new", EventType.Click, Now),
        ]);

        AssertMembers([("new", 1), ("old", 0.5)], await Signals.ReadTrendingAsync(5, CancellationToken.None));
    }

    [StoreFact]
    public async Task User_signals_hold_recent_items_follows_and_affinities_in_their_orders()
    {
        await ApplyUserHistoryAsync();

        var signals = await Signals.ReadUserSignalsAsync("u1", UserSignalsQuery.Default, CancellationToken.None);

        // Positive engagements only (not the impression), newest first, a at its latest time.
        AssertMembers([("a", Ms(Now.AddMinutes(-1))), ("c", Ms(Now.AddMinutes(-10))), ("b", Ms(Now.AddMinutes(-40)))], signals.Recent);
        Assert.Equal(["c1", "c3"], signals.Follows);

        // Creators: c1 click 2 + follow 5 + click 2 = 9, c3 follow 5, c2 like 3 + view 1 = 4.
        AssertMembers([("c1", 9), ("c3", 5), ("c2", 4)], signals.CreatorAffinity);

        // Categories: news click 2 + like 3 + click 2 = 7, tech like 3, film view 1.
        AssertMembers([("news", 7), ("tech", 3), ("film", 1)], signals.CategoryAffinity);
        Assert.False(signals.IsEmpty);
    }

    [StoreFact]
    public async Task User_signals_are_read_to_the_requested_depths_and_follows_always_whole()
    {
        await ApplyUserHistoryAsync();

        var shallow = await Signals.ReadUserSignalsAsync("u1", new UserSignalsQuery(RecentItems: 2, TopCategories: 1, TopCreators: 2), CancellationToken.None);
        Assert.Equal(["a", "c"], shallow.Recent.Select(m => m.Member));
        Assert.Equal(["news"], shallow.CategoryAffinity.Select(m => m.Member));
        Assert.Equal(["c1", "c3"], shallow.CreatorAffinity.Select(m => m.Member));
        Assert.Equal(["c1", "c3"], shallow.Follows);

        var followsOnly = await Signals.ReadUserSignalsAsync("u1", UserSignalsQuery.None, CancellationToken.None);
        Assert.Empty(followsOnly.Recent);
        Assert.Empty(followsOnly.CategoryAffinity);
        Assert.Empty(followsOnly.CreatorAffinity);
        Assert.Equal(["c1", "c3"], followsOnly.Follows);
    }

    [StoreFact]
    public async Task An_unknown_user_has_empty_signals()
    {
        await ApplyUserHistoryAsync();

        var signals = await Signals.ReadUserSignalsAsync("nobody", UserSignalsQuery.Default, CancellationToken.None);

        Assert.True(signals.IsEmpty);
        Assert.Empty(signals.Recent);
        Assert.Empty(signals.Follows);
        Assert.Empty(signals.CreatorAffinity);
        Assert.Empty(signals.CategoryAffinity);
    }

    [StoreFact]
    public async Task Category_popularity_lists_each_categorys_engaged_items_to_its_depth_in_request_order()
    {
        await ApplySameInstantWorldAsync();

        var lists = await Signals.ReadCategoryPopularAsync([("news", 10), ("tech", 10), ("film", 10), ("none", 10), ("news", 1), ("news", 0)], CancellationToken.None);

        Assert.Equal(6, lists.Length);
        AssertMembers([("a", 7), ("b", 3)], lists[0]);
        AssertMembers([("b", 3)], lists[1]);
        AssertMembers([("c", 1)], lists[2]);
        Assert.Empty(lists[3]);
        AssertMembers([("a", 7)], lists[4]);
        Assert.Empty(lists[5]);
        Assert.Empty(await Signals.ReadCategoryPopularAsync([], CancellationToken.None));
    }

    [StoreFact]
    public async Task Creator_items_are_newest_first_scored_by_created_time()
    {
        await ApplySameInstantWorldAsync();

        var lists = await Signals.ReadCreatorItemsAsync([("c1", 10), ("c2", 10), ("c2", 1), ("nobody", 10)], CancellationToken.None);

        AssertMembers([("d", Ms(Now.AddDays(-2))), ("a", Ms(Now.AddDays(-3)))], lists[0]);
        AssertMembers([("c", Ms(Now.AddDays(-1))), ("b", Ms(Now.AddDays(-5)))], lists[1]);
        AssertMembers([("c", Ms(Now.AddDays(-1)))], lists[2]);
        Assert.Empty(lists[3]);
        Assert.Empty(await Signals.ReadCreatorItemsAsync([], CancellationToken.None));
    }

    [StoreFact]
    public async Task Co_engaged_items_are_weighted_by_engagement_next_to_recent_items()
    {
        await ApplyUserHistoryAsync();

        var lists = await Signals.ReadCoEngagedAsync([("a", 10), ("b", 10), ("c", 10), ("a", 1), ("unknown", 10)], CancellationToken.None);

        // like b next to a: 3 each way; view c next to b and a: 1 each way; click a again next to c and b: 2 each way.
        AssertMembers([("b", 5), ("c", 3)], lists[0]);
        AssertMembers([("a", 5), ("c", 1)], lists[1]);
        AssertMembers([("a", 3), ("b", 1)], lists[2]);
        AssertMembers([("b", 5)], lists[3]);
        Assert.Empty(lists[4]);
    }

    [StoreFact]
    public async Task Eligibility_excludes_seen_and_unavailable_items()
    {
        await ApplyAsync(
        [
            TestData.Item("seen", "c1", ["news"]),
            TestData.Item("gone", "c1", ["news"], available: false),
            TestData.Item("both", "c1", ["news"]),
            TestData.Item("fresh", "c1", ["news"]),
            TestData.Event("v1", "u1", "seen", EventType.Click, Now.AddMinutes(-3)),
            TestData.Event("v2", "u1", "both", EventType.View, Now.AddMinutes(-2)),

            // An impression is not consumption: the item stays eligible.
            TestData.Event("v3", "u1", "fresh", EventType.Impression, Now.AddMinutes(-1)),
            TestData.Item("both", "c1", ["news"], available: false),
        ]);
        var filter = new EligibilityFilter(_redis);

        var forReader = await filter.CheckAsync("u1", ["seen", "gone", "both", "fresh", "unknown"], CancellationToken.None);
        Assert.Equal(new[] { false, false, false, true, true }, forReader);
        var forNewcomer = await filter.CheckAsync("u2", ["seen", "gone", "both", "fresh"], CancellationToken.None);
        Assert.Equal(new[] { true, false, false, true }, forNewcomer);
        Assert.Empty(await filter.CheckAsync("u1", [], CancellationToken.None));
    }

    [StoreFact]
    public async Task Eligibility_follows_availability_changes()
    {
        await ApplyAsync([TestData.Item("x", "c1", ["news"], available: false), TestData.Item("x", "c1", ["news"], available: true)]);
        var filter = new EligibilityFilter(_redis);
        var restored = await filter.CheckAsync("u1", ["x"], CancellationToken.None);
        Assert.Equal(new[] { true }, restored);

        await ApplyAsync([TestData.Item("x", "c1", ["news"], available: false)]);
        var withdrawn = await filter.CheckAsync("u1", ["x"], CancellationToken.None);
        Assert.Equal(new[] { false }, withdrawn);
    }

    // Depths as asked: these cases pin which reads memory answers; rounded-up reads have their own tests (SignalReaderCacheTests).
    private static SharedReadCache Cache(FakeTimeProvider time, TimeSpan lists, TimeSpan unavailable) =>
        new(Options.Create(new SharedReadCacheOptions { ListDuration = lists, UnavailableDuration = unavailable, RoundUpDepths = false }), time);

    [StoreFact]
    public async Task Cached_lists_answer_shallower_reads_from_memory_until_they_expire()
    {
        await ApplySameInstantWorldAsync();
        var time = new FakeTimeProvider(Now);
        var cache = Cache(time, TimeSpan.FromSeconds(2), TimeSpan.Zero);
        var cached = new CandidateSignalReader(_redis, cache);

        var first = await cached.ReadCategoryPopularAsync([("news", 10), ("tech", 1)], CancellationToken.None);
        Assert.Equal(2, cache.Misses);
        AssertMembers([("a", 7), ("b", 3)], first[0]);
        AssertMembers([("b", 3)], first[1]);

        // The store changes; memory answers until the list expires: the same depth, a shallower one, and a deeper one
        // when the store held fewer entries than were read (news had 2 of 10).
        await ApplyAsync([TestData.Item("f", "c1", ["news"], Now), TestData.Event("x1", "u9", "f", EventType.Purchase, Now)]);
        var again = await cached.ReadCategoryPopularAsync([("news", 10), ("news", 1), ("news", 50)], CancellationToken.None);
        Assert.Equal(3, cache.Hits);
        AssertMembers([("a", 7), ("b", 3)], again[0]);
        AssertMembers([("a", 7)], again[1]);
        AssertMembers([("a", 7), ("b", 3)], again[2]);

        // tech was read to depth 1 and had more: a deeper read goes to the store.
        AssertMembers([("b", 3)], (await cached.ReadCategoryPopularAsync([("tech", 5)], CancellationToken.None))[0]);
        Assert.Equal(3, cache.Misses);

        time.Advance(TimeSpan.FromSeconds(2));
        var expired = await cached.ReadCategoryPopularAsync([("news", 10)], CancellationToken.None);
        Assert.Equal(["a", "f", "b"], expired[0].Select(m => m.Member));
        Assert.Equal(AsMembers(await Signals.ReadTrendingAsync(3, CancellationToken.None)), AsMembers(await cached.ReadTrendingAsync(3, CancellationToken.None)));
        Assert.Equal(AsMembers(await Signals.ReadTrendingAsync(1, CancellationToken.None)), AsMembers(await cached.ReadTrendingAsync(1, CancellationToken.None)));
    }

    private static string[] AsMembers(IReadOnlyList<ScoredMember> members) => [.. members.Select(m => $"{m.Member}:{m.Score:R}")];

    [StoreFact]
    public async Task Eligibility_against_a_known_seen_set_and_the_cached_unavailable_set_matches_the_store_until_it_expires()
    {
        await ApplyAsync(
        [
            TestData.Item("seen", "c1", ["news"]),
            TestData.Item("gone", "c1", ["news"], available: false),
            TestData.Item("fresh", "c1", ["news"]),
            TestData.Event("v1", "u1", "seen", EventType.Click, Now.AddMinutes(-3)),
        ]);
        var time = new FakeTimeProvider(Now);
        var filter = new EligibilityFilter(_redis, Cache(time, TimeSpan.Zero, TimeSpan.FromSeconds(1)));
        var seen = (await Signals.ReadUserSignalsAsync("u1", UserSignalsQuery.None with { Seen = true }, CancellationToken.None)).Seen;
        Assert.Equal(["seen"], seen);
        string[] ids = ["seen", "gone", "fresh", "unknown"];

        var inStore = await new EligibilityFilter(_redis).CheckAsync("u1", ids, CancellationToken.None);
        var inMemory = await filter.CheckAsync("u1", ids, new HashSet<string>(seen), CancellationToken.None);
        var seenInStore = await filter.CheckAsync("u1", ids, CancellationToken.None);
        Assert.Equal(new[] { false, false, true, true }, inStore);
        Assert.Equal(inStore, inMemory);
        Assert.Equal(inStore, seenInStore);

        // Withdrawn: still proposed for at most the cache's duration, then filtered.
        await ApplyAsync([TestData.Item("fresh", "c1", ["news"], available: false)]);
        Assert.True((await filter.CheckAsync("u1", ["fresh"], new HashSet<string>(seen), CancellationToken.None))[0]);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.False((await filter.CheckAsync("u1", ["fresh"], new HashSet<string>(seen), CancellationToken.None))[0]);
    }

    [StoreFact]
    public async Task Item_metadata_gives_creator_categories_and_availability_in_request_order_and_null_for_unknown_items()
    {
        await ApplySameInstantWorldAsync();
        await ApplyAsync([TestData.Item("d", "c1", ["news"], Now.AddDays(-2), available: false)]);

        var metadata = await new ItemMetadataReader(_redis).ReadAsync(["b", "unknown", "a", "d", "e"], CancellationToken.None);

        Assert.Equal(5, metadata.Length);
        Assert.Equal("c2", metadata[0]!.Creator);
        Assert.Equal(["tech", "news"], metadata[0]!.Categories);
        Assert.True(metadata[0]!.Available);
        Assert.Null(metadata[1]);
        Assert.Equal("c1", metadata[2]!.Creator);
        Assert.Equal(["news"], metadata[2]!.Categories);
        Assert.True(metadata[2]!.Available);
        Assert.Equal("c1", metadata[3]!.Creator);
        Assert.False(metadata[3]!.Available);
        Assert.Null(metadata[4]!.Creator);
        Assert.Empty(metadata[4]!.Categories);
        Assert.True(metadata[4]!.Available);
        Assert.Empty(await new ItemMetadataReader(_redis).ReadAsync([], CancellationToken.None));
    }

    [StoreFact]
    public async Task Item_metadata_reads_more_items_than_one_pipelined_chunk()
    {
        // 2,500 ids cross the reader's chunks of 1,000; the known items sit on both sides of each boundary.
        var known = new[] { 0, 999, 1000, 1999, 2000, 2499 };
        await ApplyAsync(known.Select(i => (LogRecord)TestData.Item($"k{i}", $"c{i}", ["news"], available: i != 1000)));
        var ids = Enumerable.Range(0, 2500).Select(i => known.Contains(i) ? $"k{i}" : $"missing{i}").ToArray();

        var metadata = await new ItemMetadataReader(_redis).ReadAsync(ids, CancellationToken.None);

        Assert.Equal(2500, metadata.Length);
        Assert.Equal(known, Enumerable.Range(0, 2500).Where(i => metadata[i] is not null));
        Assert.All(known, i => Assert.Equal($"c{i}", metadata[i]!.Creator));
        Assert.Equal([1000], known.Where(i => !metadata[i]!.Available));
    }

    [StoreFact]
    public async Task A_base_embedding_is_read_back_at_its_dimension_only()
    {
        var store = new EmbeddingStore(_redis);
        float[] base1 = [0.5f, -1, 2, 0.25f];
        await store.SetUsersAsync(EmbeddingKeys.Unversioned, [("u1", base1), ("u2", [1, 2])], CancellationToken.None);

        Assert.Equal(base1, await store.GetAsync(EmbeddingKeys.Unversioned, "u1", 4, CancellationToken.None));
        var twoDimensional = await store.GetAsync(EmbeddingKeys.Unversioned, "u2", 2, CancellationToken.None);
        Assert.Equal(new[] { 1f, 2f }, twoDimensional);
        Assert.Null(await store.GetAsync(EmbeddingKeys.Unversioned, "u1", 8, CancellationToken.None));
        Assert.Null(await store.GetAsync(EmbeddingKeys.Unversioned, "u2", 4, CancellationToken.None));
        Assert.Null(await store.GetAsync(EmbeddingKeys.Unversioned, "nobody", 4, CancellationToken.None));
    }

    [StoreFact]
    public async Task The_moved_embedding_is_preferred_over_the_base_until_a_new_base_is_stored()
    {
        var store = new EmbeddingStore(_redis);
        float[] baseVector = [1, 0, 0, 0], item = [0, 1, 0, 0], newBase = [0, 0, 1, 0];
        await store.SetItemsAsync(EmbeddingKeys.Unversioned, [("i1", item)], CancellationToken.None);
        await store.SetUsersAsync(EmbeddingKeys.Unversioned, [("u1", baseVector)], CancellationToken.None);

        // The processor moves u1 from its base towards i1 (alpha 0.1); u2 has no base and starts from its first item.
        await ApplyAsync(
        [
            TestData.Event("m1", "u1", "i1", EventType.Click, Now.AddMinutes(-1)),
            TestData.Event("m2", "u2", "i1", EventType.Like, Now.AddMinutes(-1)),
        ]);

        var moved = await store.GetAsync(EmbeddingKeys.Unversioned, "u1", 4, CancellationToken.None);
        Assert.NotNull(moved);
        float[] expected = [0.9f, 0.1f, 0, 0];
        for (var d = 0; d < expected.Length; d++)
        {
            Assert.Equal(expected[d], moved[d], 6);
        }

        Assert.Equal(item, await store.GetAsync(EmbeddingKeys.Unversioned, "u2", 4, CancellationToken.None));

        // A moved embedding of another dimension is no answer either.
        Assert.Null(await store.GetAsync(EmbeddingKeys.Unversioned, "u2", 3, CancellationToken.None));

        // A new base restarts the user from it.
        await store.SetUsersAsync(EmbeddingKeys.Unversioned, [("u1", newBase)], CancellationToken.None);
        Assert.Equal(newBase, await store.GetAsync(EmbeddingKeys.Unversioned, "u1", 4, CancellationToken.None));
    }

    [StoreFact]
    public async Task Item_embeddings_are_stored_in_the_layout_and_deleted()
    {
        var store = new EmbeddingStore(_redis);
        var db = _redis.GetDatabase();
        float[] v1 = [1, 2, 3], v2 = [-1, 0.5f, 4];
        await store.SetItemsAsync(EmbeddingKeys.Unversioned, [("i1", v1), ("i2", v2)], CancellationToken.None);

        Assert.Equal(v1, EmbeddingBytes.FromBytes((byte[])(await db.StringGetAsync(OnlineKeys.ItemEmbedding("i1")))!));
        Assert.Equal(v2, EmbeddingBytes.FromBytes((byte[])(await db.StringGetAsync(OnlineKeys.ItemEmbedding("i2")))!));

        await store.DeleteItemsAsync(EmbeddingKeys.Unversioned, ["i1", "never-stored"], CancellationToken.None);
        Assert.False(await db.KeyExistsAsync(OnlineKeys.ItemEmbedding("i1")));
        Assert.True(await db.KeyExistsAsync(OnlineKeys.ItemEmbedding("i2")));
    }
}
