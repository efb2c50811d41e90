using RecSys.Candidates;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.Serving;
using RecSys.Retrieval.Sources;

namespace RecSys.Retrieval.Tests;

[Collection(StoreCollection.Name)]
public sealed class SourceTests
{
    private const double Tolerance = 1e-12;
    private readonly StoreFixture _store;

    public SourceTests(StoreFixture store)
    {
        _store = store;
        _store.Garnet.Flush();
    }

    private static readonly DateTimeOffset Now = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Trending_returns_the_top_of_the_zset_scored_by_share_of_the_max()
    {
        _store.Db.Trending(("a", 10), ("b", 5), ("c", 1), ("d", 0.5));
        var source = new TrendingSource(new CandidateSignalReader(_store.Garnet.Connection));

        var items = await source.RetrieveAsync(Store.Request("u1"), 3, CancellationToken.None);

        Assert.Equal([new ScoredItem("a", 1.0), new ScoredItem("b", 0.5), new ScoredItem("c", 0.1)], items);
    }

    [Fact]
    public async Task Recent_similar_sums_recency_weighted_neighbours_and_skips_the_seeds()
    {
        var db = _store.Db;
        db.Zset(OnlineKeys.UserRecent("u1"), ("s1", 2000), ("s2", 1000)); // s1 newest: weight 1; s2: weight 2^-1
        db.Zset(OnlineKeys.CoOccurrence("s1"), ("n1", 10), ("n2", 6), ("s2", 8));
        db.Zset(OnlineKeys.CoOccurrence("s2"), ("n2", 4), ("n3", 2));
        var options = new RetrievalOptions { RecentSimilar = { HalfLifeItems = 1 } };
        var source = new RecentSimilarSource(new CandidateSignalReader(_store.Garnet.Connection), new FixedOptions<RetrievalOptions>(options));

        var items = await source.RetrieveAsync(Store.Request("u1"), 10, CancellationToken.None);

        // n2 = 1 x 6/10 + 0.5 x 4/4 = 1.1; n1 = 1 x 10/10 = 1; n3 = 0.5 x 2/4 = 0.25; normalized by 1.1.
        Assert.Equal(["n2", "n1", "n3"], items.Select(i => i.ItemId));
        Assert.Equal(1.0, items[0].Score, Tolerance);
        Assert.Equal(1 / 1.1, items[1].Score, Tolerance);
        Assert.Equal(0.25 / 1.1, items[2].Score, Tolerance);
    }

    [Fact]
    public async Task Creator_gives_the_newest_items_of_followed_creators_first()
    {
        var db = _store.Db;
        var hour = TimeSpan.FromHours(1).TotalMilliseconds;
        var now = Now.ToUnixTimeMilliseconds();
        db.Set(OnlineKeys.UserFollows("u1"), "X");
        db.Zset(OnlineKeys.CreatorItems("X"), ("x-old", now - (720 * hour)), ("x-new", now - hour), ("x-mid", now - (48 * hour)));
        db.Zset(OnlineKeys.CreatorItems("Y"), ("y-new", now - hour)); // not followed, no affinity
        var source = new CreatorSource(new CandidateSignalReader(_store.Garnet.Connection), new FixedOptions<RetrievalOptions>(new RetrievalOptions()));

        var items = await source.RetrieveAsync(Store.Request("u1", now: Now), 10, CancellationToken.None);

        Assert.Equal(["x-new", "x-mid", "x-old"], items.Select(i => i.ItemId));
        Assert.Equal(1.0, items[0].Score, Tolerance);
        // Recency halves every 168 h: x-mid is 47 h older than x-new.
        Assert.Equal(Math.Pow(2, -47.0 / 168), items[1].Score, 1e-9);
    }

    [Fact]
    public async Task Creator_scores_by_affinity_with_followed_creators_at_full_affinity()
    {
        var db = _store.Db;
        var now = Now.ToUnixTimeMilliseconds();
        db.Set(OnlineKeys.UserFollows("u1"), "F");
        db.Zset(OnlineKeys.UserCreatorAffinity("u1"), ("A", 4), ("B", 2));
        db.Zset(OnlineKeys.CreatorItems("F"), ("f1", now));
        db.Zset(OnlineKeys.CreatorItems("A"), ("a1", now));
        db.Zset(OnlineKeys.CreatorItems("B"), ("b1", now));
        var source = new CreatorSource(new CandidateSignalReader(_store.Garnet.Connection), new FixedOptions<RetrievalOptions>(new RetrievalOptions()));

        var items = await source.RetrieveAsync(Store.Request("u1", now: Now), 10, CancellationToken.None);

        Assert.Equal([new ScoredItem("a1", 1.0), new ScoredItem("f1", 1.0), new ScoredItem("b1", 0.5)], items);
    }

    [Fact]
    public async Task Content_gives_popular_items_of_the_users_categories_by_share_times_popularity()
    {
        var db = _store.Db;
        db.Zset(OnlineKeys.UserCategoryAffinity("u1"), ("sports", 3), ("music", 1)); // shares 0.75 and 0.25
        db.Zset(OnlineKeys.CategoryPopularity("sports"), ("s1", 100), ("s2", 50));
        db.Zset(OnlineKeys.CategoryPopularity("music"), ("m1", 10), ("s2", 10));
        db.Zset(OnlineKeys.CategoryPopularity("cooking"), ("c1", 1000));
        var source = new ContentSource(new CandidateSignalReader(_store.Garnet.Connection), new FixedOptions<RetrievalOptions>(new RetrievalOptions()));

        var items = await source.RetrieveAsync(Store.Request("u1"), 10, CancellationToken.None);

        // s1 = 0.75 x 1; s2 = 0.75 x 0.5 + 0.25 x 1 = 0.625; m1 = 0.25 x 1; normalized by 0.75.
        Assert.Equal(["s1", "s2", "m1"], items.Select(i => i.ItemId));
        Assert.Equal(1.0, items[0].Score, Tolerance);
        Assert.Equal(0.625 / 0.75, items[1].Score, Tolerance);
        Assert.Equal(0.25 / 0.75, items[2].Score, Tolerance);
    }

    [Fact]
    public async Task A_user_without_history_gets_nothing_from_the_personal_sources()
    {
        _store.Db.Trending(("a", 1));
        foreach (var source in _store.StoreSources(new RetrievalOptions()).Where(s => s is not TrendingSource))
        {
            Assert.Empty(await source.RetrieveAsync(Store.Request("cold"), 100, CancellationToken.None));
        }
    }
}
