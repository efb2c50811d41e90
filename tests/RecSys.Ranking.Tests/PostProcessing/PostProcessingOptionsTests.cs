using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using RecSys.Ranking.Caching;
using RecSys.Ranking.PostProcessing;

namespace RecSys.Ranking.Tests.PostProcessing;

public sealed class PostProcessingOptionsTests
{
    private static ServiceProvider Services(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        return new ServiceCollection().AddRankingPostProcessing(configuration).AddScoreCache(configuration).BuildServiceProvider();
    }

    [Fact]
    public void Settings_bind_from_the_Ranking_PostProcessing_section()
    {
        using var services = Services(new()
        {
            ["Ranking:PostProcessing:Freshness:Window"] = "06:00:00",
            ["Ranking:PostProcessing:Freshness:Factor"] = "1.5",
            ["Ranking:PostProcessing:Diversity:Lambda"] = "0.4",
            ["Ranking:PostProcessing:Diversity:MaxPerCategory"] = "3",
            ["Ranking:PostProcessing:BlockedCategories:kids:0"] = "horror",
            ["Ranking:PostProcessing:PinnedItems:0:ItemId"] = "promo",
            ["Ranking:PostProcessing:PinnedItems:0:Rank"] = "2",
            ["Ranking:ScoreCache:TimeToLive"] = "00:00:05",
        });

        var options = services.GetRequiredService<IOptions<PostProcessingOptions>>().Value;

        Assert.Equal(TimeSpan.FromHours(6), options.Freshness.Window);
        Assert.Equal(1.5, options.Freshness.Factor);
        Assert.Equal(0.4, options.Diversity.Lambda);
        Assert.Equal(3, options.Diversity.MaxPerCategory);
        Assert.Equal(["horror"], options.BlockedCategories["KIDS"]);
        Assert.Equal(2, options.PinnedItems.Single().Rank);
        Assert.NotNull(services.GetRequiredService<PostProcessingPipeline>());
        Assert.Equal(TimeSpan.FromSeconds(5), services.GetRequiredService<IOptions<ScoreCacheOptions>>().Value.TimeToLive);
        Assert.NotNull(services.GetRequiredService<ScoreCache>());
    }

    [Theory]
    [InlineData("Ranking:PostProcessing:Diversity:Lambda", "1.5", "Lambda")]
    [InlineData("Ranking:PostProcessing:Freshness:Factor", "0.5", "Factor")]
    [InlineData("Ranking:PostProcessing:Freshness:Window", "-01:00:00", "Window")]
    [InlineData("Ranking:PostProcessing:MaxItemsPerCreator", "-1", "MaxItemsPerCreator")]
    [InlineData("Ranking:PostProcessing:PinnedItems:0:Rank", "0", "Rank")]
    [InlineData("Ranking:PostProcessing:BlockedCategories:kids:0", " ", "BlockedCategories")]
    public void A_bad_value_is_refused_and_named(string key, string value, string named)
    {
        using var services = Services(new()
        {
            ["Ranking:PostProcessing:PinnedItems:0:ItemId"] = "promo",
            [key] = value,
        });

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<PostProcessingOptions>>().Value);

        Assert.Contains(error.Failures, f => f.Contains(named, StringComparison.Ordinal));
    }

    [Fact]
    public void Colliding_pins_are_refused()
    {
        var options = new PostProcessingOptions
        {
            PinnedItems =
            [
                new PinnedItemOptions { ItemId = "a", Rank = 1, Contexts = ["home"] },
                new PinnedItemOptions { ItemId = "b", Rank = 1 },
                new PinnedItemOptions { ItemId = "a", Rank = 4 },
                new PinnedItemOptions { ItemId = "c", Rank = 4, Contexts = ["search"] },
            ],
        };

        var result = new PostProcessingRulesValidator().Validate(null, options);

        // a and b share rank 1 (b is in every context), a is pinned twice, a and c share rank 4 (a is in every context).

        Assert.Equal(3, result.Failures!.Count());
        Assert.Throws<ArgumentException>(() => new PostProcessingPipeline(Options.Create(options)));
    }
}
