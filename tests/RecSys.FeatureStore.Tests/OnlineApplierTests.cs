using System.Globalization;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.Streaming;
using RecSys.TestSupport;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Tests;

public sealed class OnlineApplierTests(EmbeddedGarnet garnet) : IClassFixture<EmbeddedGarnet>
{
    private readonly IDatabase _db = garnet.Connection.GetDatabase();

    private static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();

    private async Task<OnlineApplier> FreshAsync()
    {
        garnet.Flush();
        var applier = Infrastructure.Applier(garnet);
        Assert.Equal(0, await applier.InitializeAsync());
        return applier;
    }

    [Fact]
    public async Task An_item_upsert_writes_the_item_layout()
    {
        var applier = await FreshAsync();
        var created = TestData.T0.AddDays(-1);
        var result = await applier.ApplyAsync(
            TestData.Entries([TestData.Item("i1", "c1", ["news", "tech"], created, title: "Hello"), TestData.Item("i2", null, [], created, available: false)]),
            0,
            2);
        Assert.True(result.Committed);

        var hash = (await _db.HashGetAllAsync(OnlineKeys.Item("i1"))).ToDictionary(e => e.Name.ToString(), e => e.Value.ToString());
        Assert.Equal("news|tech", hash[ItemFields.Categories]);
        Assert.Equal("t1", hash[ItemFields.Tags]);
        Assert.Equal(Ms(created).ToString(CultureInfo.InvariantCulture), hash[ItemFields.CreatedMs]);
        Assert.Equal("1", hash[ItemFields.Available]);
        Assert.Equal("c1", hash[ItemFields.Creator]);
        Assert.Equal("Hello", hash[ItemFields.Title]);
        Assert.False(await _db.HashExistsAsync(OnlineKeys.Item("i2"), ItemFields.Creator));
        Assert.Equal("0", (string?)await _db.HashGetAsync(OnlineKeys.Item("i2"), ItemFields.Available));

        Assert.Equal(["i1", "i2"], (await _db.SetMembersAsync(OnlineKeys.AllItems)).Select(m => m.ToString()).Order());
        Assert.Equal(["news", "tech"], (await _db.SetMembersAsync(OnlineKeys.AllCategories)).Select(m => m.ToString()).Order());
        Assert.Equal(["i2"], (await _db.SetMembersAsync(OnlineKeys.UnavailableItems)).Select(m => m.ToString()));
        Assert.Equal(Ms(created), await _db.SortedSetScoreAsync(OnlineKeys.CreatorItems("c1"), "i1"));
        Assert.Equal("2", (string?)await _db.StringGetAsync(OnlineKeys.ProcessorPosition));
    }

    [Fact]
    public async Task Changing_creator_and_availability_moves_the_item()
    {
        var applier = await FreshAsync();
        await applier.ApplyAsync(TestData.Entries([TestData.Item("i1", "c1", ["news"], available: false)]), 0, 1);
        await applier.ApplyAsync([new LogEntry(1, 2, TestData.Item("i1", "c2", ["news"]))], 1, 2);
        Assert.Null(await _db.SortedSetScoreAsync(OnlineKeys.CreatorItems("c1"), "i1"));
        Assert.NotNull(await _db.SortedSetScoreAsync(OnlineKeys.CreatorItems("c2"), "i1"));
        Assert.False(await _db.SetContainsAsync(OnlineKeys.UnavailableItems, "i1"));
    }

    [Fact]
    public async Task Events_write_popularity_affinity_co_occurrence_recent_seen_and_counters()
    {
        var applier = await FreshAsync();
        var t1 = TestData.T0;
        var t2 = TestData.T0.AddHours(1);
        var t3 = TestData.T0.AddHours(2);
        var records = new List<LogRecord>
        {
            TestData.Item("i1", "c1", ["news", "tech"]),
            TestData.Item("i2", "c2", ["news"]),
            TestData.Event("e1", "u1", "i1", EventType.Impression, t1),
            TestData.Event("e2", "u1", "i1", EventType.Click, t1),
            TestData.Event("e3", "u1", "i2", EventType.Like, t2),
            TestData.Event("e4", "u1", null, EventType.Follow, t3, creator: "c9"),
            TestData.Event("e5", "u2", "i2", EventType.Rating, t3, value: 2),
        };
        var result = await applier.ApplyAsync(TestData.Entries(records), 0, records.Count);
        Assert.Equal(5, result.EventsApplied);
        Assert.Equal(Ms(t1), applier.Epoch);
        Assert.Equal(Ms(t1).ToString(CultureInfo.InvariantCulture), (string?)await _db.StringGetAsync(OnlineKeys.TrendingEpoch));

        // Trending: click (2) at the epoch, like (3) one hour later, decayed relative to the epoch.
        var w2 = DecayedScore.Weight(3, Ms(t2), Ms(t1));
        Assert.Equal(2, await _db.SortedSetScoreAsync(OnlineKeys.Trending, "i1"));
        Assert.Equal(w2, (await _db.SortedSetScoreAsync(OnlineKeys.Trending, "i2"))!.Value, 9);
        Assert.Equal(2, await _db.SortedSetScoreAsync(OnlineKeys.CategoryPopularity("tech"), "i1"));
        Assert.Equal(w2, (await _db.SortedSetScoreAsync(OnlineKeys.CategoryPopularity("news"), "i2"))!.Value, 9);
        Assert.Equal(2, await _db.SortedSetScoreAsync(OnlineKeys.CategoryPopularity("news"), "i1"));

        Assert.Equal(5, await _db.SortedSetScoreAsync(OnlineKeys.UserCategoryAffinity("u1"), "news"));
        Assert.Equal(2, await _db.SortedSetScoreAsync(OnlineKeys.UserCategoryAffinity("u1"), "tech"));
        Assert.Equal(2, await _db.SortedSetScoreAsync(OnlineKeys.UserCreatorAffinity("u1"), "c1"));
        Assert.Equal(3, await _db.SortedSetScoreAsync(OnlineKeys.UserCreatorAffinity("u1"), "c2"));
        Assert.Equal(5, await _db.SortedSetScoreAsync(OnlineKeys.UserCreatorAffinity("u1"), "c9"));
        Assert.True(await _db.SetContainsAsync(OnlineKeys.UserFollows("u1"), "c9"));

        Assert.Equal(3, await _db.SortedSetScoreAsync(OnlineKeys.CoOccurrence("i1"), "i2"));
        Assert.Equal(3, await _db.SortedSetScoreAsync(OnlineKeys.CoOccurrence("i2"), "i1"));
        Assert.Equal(1, await _db.SortedSetLengthAsync(OnlineKeys.CoOccurrence("i1")));

        var recent = await _db.SortedSetRangeByRankWithScoresAsync(OnlineKeys.UserRecent("u1"), order: Order.Descending);
        Assert.Equal(["i2", "i1"], recent.Select(e => e.Element.ToString()));
        Assert.Equal(Ms(t2), recent[0].Score);

        Assert.Equal(["i1", "i2"], (await _db.SetMembersAsync(OnlineKeys.UserSeen("u1"))).Select(m => m.ToString()).Order());
        Assert.True(await _db.SetContainsAsync(OnlineKeys.UserSeen("u2"), "i2"));
        Assert.False(await _db.KeyExistsAsync(OnlineKeys.UserRecent("u2")));

        var user = await HashAsync(OnlineKeys.Features(EntityKinds.User, "u1"));
        Assert.Equal("4", user[FeatureFields.EventsTotal]);
        Assert.Equal("1", user[FeatureFields.ClicksTotal]);
        Assert.Equal("1", user[FeatureFields.ImpressionsTotal]);
        Assert.Equal(Ms(t3).ToString(CultureInfo.InvariantCulture), user[FeatureFields.LastEventMs]);
        Assert.Equal(Ms(t3).ToString(CultureInfo.InvariantCulture), user[FeatureFields.EventsTotal + FeatureFields.TimeSuffix]);
        Assert.Equal(Ms(t1).ToString(CultureInfo.InvariantCulture), user[FeatureFields.ClicksTotal + FeatureFields.TimeSuffix]);
        var item = await HashAsync(OnlineKeys.Features(EntityKinds.Item, "i1"));
        Assert.Equal("1", item[FeatureFields.ImpressionsTotal]);
        Assert.Equal("1", item[FeatureFields.ClicksTotal]);
        Assert.Equal("2", item[FeatureFields.EngagementTotal]);
        Assert.False(item.ContainsKey(FeatureFields.ViewsTotal));

        Assert.True(await _db.KeyExistsAsync(OnlineKeys.AppliedEvent("e1")));
        var ttl = await _db.KeyTimeToLiveAsync(OnlineKeys.AppliedEvent("e1"));
        Assert.InRange(ttl!.Value, TimeSpan.FromDays(29), TimeSpan.FromDays(30));
    }

    [Fact]
    public async Task Recent_items_keep_the_newest_time_and_are_trimmed()
    {
        var applier = await FreshAsync();
        var records = new List<LogRecord>();
        for (var i = 0; i < OnlineKeys.RecentItemsKept + 5; i++)
        {
            records.Add(TestData.Event($"v{i}", "u1", $"i{i}", EventType.View, TestData.T0.AddMinutes(i)));
        }

        records.Add(TestData.Event("late", "u1", $"i{OnlineKeys.RecentItemsKept + 4}", EventType.View, TestData.T0.AddMinutes(-100)));
        await applier.ApplyAsync(TestData.Entries(records), 0, records.Count);
        var recent = await _db.SortedSetRangeByRankWithScoresAsync(OnlineKeys.UserRecent("u1"), order: Order.Descending);
        Assert.Equal(OnlineKeys.RecentItemsKept, recent.Length);
        Assert.Equal($"i{OnlineKeys.RecentItemsKept + 4}", recent[0].Element.ToString());
        Assert.Equal(Ms(TestData.T0.AddMinutes(OnlineKeys.RecentItemsKept + 4)), recent[0].Score);
        // i30 pairs with the window of items viewed before it and is in the window of the ones viewed after it.
        Assert.Equal(2 * OnlineKeys.CoOccurrenceWindow, await _db.SortedSetLengthAsync(OnlineKeys.CoOccurrence("i30")));
    }

    [Fact]
    public async Task Applying_the_same_records_twice_changes_nothing()
    {
        var applier = await FreshAsync();
        var entries = TestData.Entries(TestData.RandomStream(7, items: 30, users: 8, events: 600));
        await applier.ApplyAsync(entries, 0, entries.Count);
        var once = await StoreSnapshot.TakeAsync(garnet.Connection, garnet.Port, ProcessorKeys.Stats);

        var again = await applier.ApplyAsync(entries, entries.Count, entries.Count);
        Assert.True(again.Committed);
        Assert.Equal(0, again.EventsApplied);
        Assert.Equal(entries.Count(e => e.Record is EventRecord), again.Duplicates);
        StoreSnapshot.AssertEqual(once, await StoreSnapshot.TakeAsync(garnet.Connection, garnet.Port, ProcessorKeys.Stats));
    }

    [Fact]
    public async Task Random_crashes_and_restarts_give_the_state_of_a_single_application()
    {
        var entries = TestData.Entries(TestData.RandomStream(11, items: 40, users: 10, events: 1_500));
        var single = await FreshAsync();
        await single.ApplyAsync(entries, 0, entries.Count);
        var expected = await StoreSnapshot.TakeAsync(garnet.Connection, garnet.Port, ProcessorKeys.Stats);

        var random = new Random(5);
        garnet.Flush();
        var crashes = 0;
        var applier = Infrastructure.Applier(garnet);
        var position = await applier.InitializeAsync();
        while (position < entries.Count)
        {
            var size = random.Next(1, 200);
            var batch = entries.Skip((int)position).Take(size).ToList();
            var next = batch[^1].NextPosition;
            if (random.NextDouble() < 0.3)
            {
                // Crash after applying a prefix of the batch, before the position moved: the effects stay, the position
                // does not. Then a new process starts from the stored position.
                var prefix = batch.Take(random.Next(1, batch.Count + 1)).ToList();
                await applier.ApplyEffectsAsync(prefix);
                crashes++;
                applier = Infrastructure.Applier(garnet);
                position = await applier.InitializeAsync();
                continue;
            }

            var result = await applier.ApplyAsync(batch, position, next);
            Assert.True(result.Committed);
            position = next;
        }

        Assert.True(crashes > 5);
        StoreSnapshot.AssertEqual(expected, await StoreSnapshot.TakeAsync(garnet.Connection, garnet.Port, ProcessorKeys.Stats));
        var stats = await HashAsync(ProcessorKeys.Stats);
        Assert.Equal(entries.Count(e => e.Record is EventRecord).ToString(CultureInfo.InvariantCulture), stats[ProcessorKeys.EventsApplied]);
    }

    [Fact]
    public async Task A_commit_from_a_stale_position_is_refused()
    {
        var applier = await FreshAsync();
        var entries = TestData.Entries([TestData.Item("i1", null, ["a"])]);
        Assert.True((await applier.ApplyAsync(entries, 0, 1)).Committed);
        var stale = await applier.ApplyAsync(entries, 0, 1);
        Assert.False(stale.Committed);
        Assert.Equal(1, stale.StoredPosition);
    }

    [Fact]
    public async Task Rebasing_keeps_the_ranking_order_and_the_ratios()
    {
        var applier = await FreshAsync();
        var records = new List<LogRecord>
        {
            TestData.Item("a", null, ["x"]),
            TestData.Item("b", null, ["x", "y"]),
            TestData.Item("c", null, ["y"]),
        };
        var random = new Random(3);
        for (var i = 0; i < 300; i++)
        {
            var item = new[] { "a", "b", "c" }[random.Next(3)];
            records.Add(TestData.Event($"e{i}", $"u{i % 7}", item, EventType.Click, TestData.T0.AddHours(random.Next(24 * 30))));
        }

        await applier.ApplyAsync(TestData.Entries(records), 0, records.Count);
        var before = await RankingsAsync();
        var epoch = applier.Epoch!.Value;
        var newEpoch = epoch + (long)TimeSpan.FromDays(40).TotalMilliseconds;
        await applier.RebaseAsync(newEpoch);

        Assert.Equal(newEpoch, applier.Epoch);
        Assert.Equal(newEpoch.ToString(CultureInfo.InvariantCulture), (string?)await _db.StringGetAsync(OnlineKeys.TrendingEpoch));
        var after = await RankingsAsync();
        var factor = Math.Pow(2, -DecayedScore.Exponent(newEpoch, epoch));
        foreach (var (key, ranking) in before)
        {
            Assert.Equal(ranking.Select(e => e.Element), after[key].Select(e => e.Element));
            foreach (var (old, moved) in ranking.Zip(after[key]))
            {
                Assert.Equal(old.Score * factor, moved.Score, old.Score * factor * 1e-9);
            }
        }
    }

    [Fact]
    public async Task An_event_far_past_the_epoch_triggers_a_rebase_before_it_is_applied()
    {
        var applier = await FreshAsync();
        var late = TestData.T0.AddDays(3 * (DecayedScore.RebaseExponent + 10));
        var records = new List<LogRecord>
        {
            TestData.Item("a", null, ["x"]),
            TestData.Item("b", null, ["x"]),
            TestData.Event("e1", "u1", "a", EventType.Purchase, TestData.T0),
            TestData.Event("e2", "u1", "b", EventType.View, late),
        };
        await applier.ApplyAsync(TestData.Entries(records), 0, records.Count);
        Assert.Equal(Ms(late), applier.Epoch);
        Assert.Equal(1, await _db.SortedSetScoreAsync(OnlineKeys.Trending, "b"));
        var a = (await _db.SortedSetScoreAsync(OnlineKeys.Trending, "a"))!.Value;
        Assert.InRange(a, 0, 1e-150);
        Assert.Equal(["a", "b"], (await _db.SortedSetRangeByRankAsync(OnlineKeys.CategoryPopularity("x"))).Select(v => v.ToString()));
    }

    private async Task<Dictionary<string, SortedSetEntry[]>> RankingsAsync()
    {
        var result = new Dictionary<string, SortedSetEntry[]>();
        foreach (var key in new[] { OnlineKeys.Trending, OnlineKeys.CategoryPopularity("x"), OnlineKeys.CategoryPopularity("y") })
        {
            result[key] = await _db.SortedSetRangeByRankWithScoresAsync(key, order: Order.Descending);
            Assert.NotEmpty(result[key]);
        }

        return result;
    }

    private async Task<Dictionary<string, string>> HashAsync(string key) =>
        (await _db.HashGetAllAsync(key)).ToDictionary(e => e.Name.ToString(), e => e.Value.ToString());
}
