using RecSys.Candidates;
using RecSys.Core.Domain;

namespace RecSys.Retrieval.Tests;

public sealed class BudgetPlannerTests
{
    private static readonly string[] WithoutCollaborative = [SourceNames.Trending, SourceNames.RecentSimilar, SourceNames.Creator, SourceNames.Content];

    [Fact]
    public void Target_count_with_every_source_gives_the_spec_budgets_and_a_fallback_reserve()
    {
        var plan = BudgetPlanner.Plan(new RetrievalOptions(), SourceNames.All, 5000);

        Assert.True(plan.FallbackActive);
        Assert.Equal(
            [SourceNames.Collaborative, SourceNames.Content, SourceNames.RecentSimilar, SourceNames.Creator, SourceNames.Trending],
            plan.Sources.Select(s => s.Name));
        var byName = plan.Sources.ToDictionary(s => s.Name);
        Assert.Equal((2500, 2500, 1.0), (byName["collaborative"].Budget, byName["collaborative"].FetchBudget, byName["collaborative"].Weight));
        Assert.Equal((1000, 1500, 0.9), (byName["content"].Budget, byName["content"].FetchBudget, byName["content"].Weight));
        Assert.Equal((500, 750, 0.7), (byName["trending"].Budget, byName["trending"].FetchBudget, byName["trending"].Weight));
        Assert.Equal((750, 750, 0.85), (byName["recent_similar"].Budget, byName["recent_similar"].FetchBudget, byName["recent_similar"].Weight));
        Assert.Equal((250, 250, 0.8), (byName["creator"].Budget, byName["creator"].FetchBudget, byName["creator"].Weight));
        Assert.True(byName["content"].BoostedOnFallback);
        Assert.False(byName["creator"].BoostedOnFallback);
        Assert.All(plan.Sources, s => Assert.Equal(TimeSpan.FromMilliseconds(100), s.Timeout));
    }

    [Fact]
    public void Smaller_request_scales_budgets_and_absent_collaborative_boosts_content_and_trending()
    {
        var plan = BudgetPlanner.Plan(new RetrievalOptions(), WithoutCollaborative, 500);

        Assert.False(plan.FallbackActive);
        var budgets = plan.Sources.ToDictionary(s => s.Name, s => (s.Budget, s.FetchBudget));
        Assert.Equal(4, budgets.Count);
        Assert.Equal((150, 150), budgets["content"]);        // 1000 x 500/5000 x 1.5
        Assert.Equal((75, 75), budgets["trending"]);         // 500 x 500/5000 x 1.5
        Assert.Equal((75, 75), budgets["recent_similar"]);   // 750 x 500/5000
        Assert.Equal((25, 25), budgets["creator"]);          // 250 x 500/5000
    }

    [Fact]
    public void Tiny_request_gets_the_minimum_per_source_and_large_request_scales_up()
    {
        var options = new RetrievalOptions { MinSourceBudget = 20 };
        var tiny = BudgetPlanner.Plan(options, SourceNames.All, 10).Sources.ToDictionary(s => s.Name, s => s.Budget);
        Assert.All(tiny.Values, b => Assert.Equal(20, b));

        var large = BudgetPlanner.Plan(options, SourceNames.All, 10_000).Sources.ToDictionary(s => s.Name, s => s.Budget);
        Assert.Equal(5000, large["collaborative"]);
        Assert.Equal(500, large["creator"]);
    }

    [Fact]
    public void Disabled_or_unconfigured_sources_are_left_out_and_timeouts_can_be_overridden()
    {
        var options = new RetrievalOptions();
        options.Sources["creator"].Enabled = false;
        options.Sources["trending"].Timeout = TimeSpan.FromMilliseconds(40);

        var plan = BudgetPlanner.Plan(options, [.. SourceNames.All, "unconfigured"], 5000);

        Assert.DoesNotContain(plan.Sources, s => s.Name is "creator" or "unconfigured");
        Assert.Equal(TimeSpan.FromMilliseconds(40), plan.Sources.Single(s => s.Name == "trending").Timeout);
    }

    [Theory]
    [InlineData(500, 500, 5000, 20, 50)]
    [InlineData(250, 500, 5000, 20, 25)]
    [InlineData(250, 1, 5000, 20, 20)]
    [InlineData(750, 333, 5000, 1, 50)] // 49.95 rounds up
    public void Scale_rounds_up_and_respects_the_minimum(int budget, int count, int target, int minimum, int expected) =>
        Assert.Equal(expected, BudgetPlanner.Scale(budget, count, target, minimum));
}
