using RecSys.Ranking.PostProcessing;
using static RecSys.Ranking.Tests.PostProcessing.PostProcessingTestKit;

namespace RecSys.Ranking.Tests.PostProcessing;

public sealed class BusinessRuleTests
{
    [Fact]
    public void Unavailable_items_are_removed()
    {
        var result = Run(Pipeline(Plain()), 10, Item("a", 0.9), Item("b", 0.8, available: false), Item("c", 0.7));

        Assert.Equal(["a", "c"], Ids(result));
        Assert.Equal(1, Report(result, "availability").Removed);
    }

    [Fact]
    public void Unknown_metadata_counts_as_available()
    {
        var result = Run(Pipeline(Plain()), 10, new PostProcessingCandidate("a", 0f));

        Assert.Equal(["a"], Ids(result));
    }

    [Fact]
    public void The_creator_cap_keeps_each_creators_best_items()
    {
        var pipeline = Pipeline(Plain(o => o.MaxItemsPerCreator = 2));

        var result = Run(pipeline, 10,
            Item("x1", 0.5, creator: "x"), Item("x2", 0.9, creator: "x"), Item("x3", 0.7, creator: "x"),
            Item("y1", 0.6, creator: "y"), Item("n1", 0.4), Item("n2", 0.3));

        Assert.Equal(["x2", "x3", "y1", "n1", "n2"], Ids(result));
        Assert.Equal(1, Report(result, "creator_cap").Removed);
    }

    [Fact]
    public void Fresh_items_are_boosted_with_a_linear_decay_over_the_window()
    {
        var pipeline = Pipeline(Plain(o => o.Freshness = new FreshnessBoostOptions { Window = TimeSpan.FromHours(10), Factor = 2 }));

        var result = Run(pipeline, 10,
            Item("new", 0.2, age: TimeSpan.Zero), Item("half", 0.2, age: TimeSpan.FromHours(5)), Item("quarter", 0.2, age: TimeSpan.FromHours(7.5)),
            Item("old", 0.2, age: TimeSpan.FromHours(10)), Item("undated", 0.2), Item("future", 0.2, age: TimeSpan.FromHours(-1)));

        var score = result.Items.ToDictionary(i => i.ItemId, i => i.Score);
        Assert.Equal(0.4, score["new"], 1e-6);
        Assert.Equal(0.3, score["half"], 1e-6);
        Assert.Equal(0.25, score["quarter"], 1e-6);
        Assert.Equal(0.2, score["old"], 1e-6);
        Assert.Equal(0.2, score["undated"], 1e-6);
        Assert.Equal(0.4, score["future"], 1e-6);
        Assert.Equal(4, Report(result, "freshness").Changed);
        Assert.Equal(0.2, result.Items.Single(i => i.ItemId == "new").Probability, 1e-6);
    }

    [Fact]
    public void The_boost_can_lift_a_fresh_item_above_an_older_better_one()
    {
        var pipeline = Pipeline(Plain(o => o.Freshness = new FreshnessBoostOptions { Window = TimeSpan.FromHours(10), Factor = 2 }));

        var result = Run(pipeline, 10, Item("old", 0.5, age: TimeSpan.FromDays(3)), Item("new", 0.3, age: TimeSpan.FromHours(1)));

        Assert.Equal(["new", "old"], Ids(result));
    }

    [Fact]
    public void Categories_blocked_in_the_context_or_everywhere_are_removed()
    {
        var pipeline = Pipeline(Plain(o =>
        {
            o.BlockedCategories["HOME"] = ["horror"];
            o.BlockedCategories["*"] = ["spam"];
            o.BlockedCategories["search"] = ["comedy"];
        }));

        var result = Run(pipeline, 10,
            Item("a", 0.9, categories: ["drama", "horror"]), Item("b", 0.8, categories: ["spam"]),
            Item("c", 0.7, categories: ["comedy"]), Item("d", 0.6));

        Assert.Equal(["c", "d"], Ids(result));
        Assert.Equal(2, Report(result, "blocked_categories").Removed);
    }

    [Fact]
    public void Pinned_items_take_their_ranks_when_eligible()
    {
        var pipeline = Pipeline(Plain(o => o.PinnedItems =
        [
            new PinnedItemOptions { ItemId = "promo", Rank = 2 },
            new PinnedItemOptions { ItemId = "absent", Rank = 1, Contexts = ["home"] },
            new PinnedItemOptions { ItemId = "gone", Rank = 3 },
            new PinnedItemOptions { ItemId = "elsewhere", Rank = 1, Contexts = ["search"] },
        ]));

        var result = Run(pipeline, 4,
            Item("a", 0.9), Item("b", 0.8), Item("elsewhere", 0.7), Item("c", 0.6), Item("gone", 0.5, available: false), Item("promo", 0.01));

        Assert.Equal(["a", "promo", "b", "elsewhere"], Ids(result));
        Assert.True(result.Items[1].Pinned);
        Assert.Equal(1, Report(result, "pinned").Pinned);
    }

    [Fact]
    public void A_pin_beyond_the_requested_count_is_not_forced()
    {
        var pipeline = Pipeline(Plain(o => o.PinnedItems = [new PinnedItemOptions { ItemId = "promo", Rank = 5 }]));

        var result = Run(pipeline, 3, Item("a", 0.9), Item("b", 0.8), Item("c", 0.6), Item("promo", 0.01));

        Assert.Equal(["a", "b", "c"], Ids(result));
    }

    [Fact]
    public void A_pinned_item_moves_up_when_too_few_items_remain_to_reach_its_rank()
    {
        var pipeline = Pipeline(Plain(o => o.PinnedItems = [new PinnedItemOptions { ItemId = "promo", Rank = 5 }]));

        var result = Run(pipeline, 10, Item("a", 0.9), Item("promo", 0.01));

        Assert.Equal(["a", "promo"], Ids(result));
    }

    [Fact]
    public void Top_n_cuts_the_list_to_the_requested_count()
    {
        var result = Run(Pipeline(Plain()), 2, Item("a", 0.1), Item("b", 0.9), Item("c", 0.5));

        Assert.Equal(["b", "c"], Ids(result));
        Assert.Equal(1, Report(result, "top_n").Removed);
        Assert.Equal([1, 2], result.Items.Select(i => i.CandidateIndex));
    }

    [Fact]
    public void A_count_outside_the_limit_is_refused()
    {
        var pipeline = Pipeline(Plain(o => o.MaxCount = 5));

        Assert.Throws<ArgumentOutOfRangeException>(() => Run(pipeline, 6, Item("a", 0.5)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Run(pipeline, 0, Item("a", 0.5)));
    }
}
