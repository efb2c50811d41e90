using RecSys.Ranking.Apis;
using RecSys.Ranking.Services;

namespace RecSys.Ranking.Tests;

public sealed class TopKTests
{
    [Fact]
    public void Returns_the_best_scores_first_and_keeps_candidate_order_on_ties()
    {
        var order = RecommendationService.TopK([0.5, 0.9, 0.5, 0.1, 0.9], 4);

        Assert.Equal([1, 4, 0, 2], order);
    }

    [Fact]
    public void Returns_everything_when_k_exceeds_the_candidates()
    {
        Assert.Equal([1, 0], RecommendationService.TopK([0.1, 0.2], 10));
    }

    [Theory]
    [InlineData("u1", null, null, true)]
    [InlineData("u1", "200", null, true)]
    [InlineData("u1", "201", null, false)]
    [InlineData("u1", "-1", null, false)]
    [InlineData("u:1", null, null, false)]
    [InlineData("", null, null, false)]
    [InlineData("u1", "5", "home", true)]
    public void Validation(string user, string? count, string? context, bool valid)
    {
        var errors = RecommendationsApi.Validate(user, count, context, new RankingOptions(), out _);

        Assert.Equal(valid, errors.Count == 0);
    }
}
