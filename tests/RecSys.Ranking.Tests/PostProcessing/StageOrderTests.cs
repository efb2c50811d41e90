using RecSys.Ranking.PostProcessing;
using static RecSys.Ranking.Tests.PostProcessing.PostProcessingTestKit;

namespace RecSys.Ranking.Tests.PostProcessing;

public sealed class StageOrderTests
{
    [Fact]
    public void The_stages_run_in_the_documented_order_and_each_reports()
    {
        var result = Run(Pipeline(Plain()), 1, Item("a", 0.5));

        Assert.Equal(["calibration", "availability", "blocked_categories", "pinned", "freshness", "creator_cap", "diversity", "top_n"],
            result.Stages.Select(s => s.Stage));
    }

    [Fact]
    public void A_pinned_item_survives_diversity_even_as_the_twin_of_the_top_item()
    {
        var pipeline = Pipeline(Plain(o =>
        {
            o.Diversity = new DiversityOptions { Lambda = 0, MaxPerCreator = 1 };
            o.PinnedItems = [new PinnedItemOptions { ItemId = "twin", Rank = 2 }];
        }));

        var result = Run(pipeline, 3,
            Item("top", 0.9, creator: "x", embedding: [1, 0]), Item("twin", 0.1, creator: "x", embedding: [1, 0]),
            Item("other", 0.5, creator: "y", embedding: [0, 1]), Item("third", 0.4, creator: "z", embedding: [-1, 0]));

        // The pin fills creator x's cap, so "top" is passed over; "twin" keeps rank 2.
        Assert.Equal(["third", "twin", "other"], Ids(result));
        Assert.True(result.Items[1].Pinned);
    }

    [Fact]
    public void A_blocked_or_unavailable_item_never_appears_even_when_pinned()
    {
        var pipeline = Pipeline(Plain(o =>
        {
            o.BlockedCategories["*"] = ["banned"];
            o.PinnedItems = [new PinnedItemOptions { ItemId = "blocked", Rank = 1 }, new PinnedItemOptions { ItemId = "away", Rank = 2 }];
        }));

        var result = Run(pipeline, 5,
            Item("blocked", 0.9, categories: ["banned"]), Item("away", 0.8, available: false), Item("a", 0.5), Item("b", 0.4));

        Assert.Equal(["a", "b"], Ids(result));
        Assert.Equal(0, Report(result, "pinned").Pinned);
    }

    [Fact]
    public void The_creator_cap_never_drops_a_pinned_item()
    {
        var pipeline = Pipeline(Plain(o =>
        {
            o.MaxItemsPerCreator = 1;
            o.PinnedItems = [new PinnedItemOptions { ItemId = "x-low", Rank = 3 }];
        }));

        var result = Run(pipeline, 5, Item("x-high", 0.9, creator: "x"), Item("x-low", 0.1, creator: "x"), Item("y", 0.5, creator: "y"));

        Assert.Equal(["y", "x-low"], Ids(result));
        Assert.Equal(1, Report(result, "creator_cap").Removed);
    }

    [Fact]
    public void The_freshness_boost_applies_before_diversity_and_the_cut()
    {
        var pipeline = Pipeline(Plain(o => o.Freshness = new FreshnessBoostOptions { Window = TimeSpan.FromDays(1), Factor = 3 }));

        var result = Run(pipeline, 1, Item("old", 0.5, age: TimeSpan.FromDays(10)), Item("new", 0.2, age: TimeSpan.Zero));

        Assert.Equal(["new"], Ids(result));
        Assert.Equal(0.6, result.Items[0].Score, 1e-6);
    }

    [Fact]
    public void With_diversity_disabled_the_score_order_is_kept_and_caps_do_not_apply()
    {
        var pipeline = Pipeline(Plain(o => o.Diversity = new DiversityOptions { Enabled = false, Lambda = 0, MaxPerCategory = 1 }));

        var result = Run(pipeline, 3,
            Item("a", 0.9, categories: ["x"], embedding: [1, 0]), Item("b", 0.8, categories: ["x"], embedding: [1, 0]), Item("c", 0.1, embedding: [0, 1]));

        Assert.Equal(["a", "b", "c"], Ids(result));
    }
}
