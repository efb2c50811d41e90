using RecSys.Ranking.Features;

namespace RecSys.Ranking.Tests.Features;

public sealed class RankingFeatureCatalogTests
{
    private static readonly long Now = new DateTimeOffset(2026, 11, 20, 12, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();

    [Fact]
    public void Cross_features_are_computed_from_the_user_and_item_values_and_missing_inputs_take_the_default()
    {
        var user = new EntityValues()
            .SetNumber(RankingFeatureCatalog.UserEventsTotal, 99)
            .SetNumber(RankingFeatureCatalog.UserLastEventMs, Now - (2 * 86_400_000L))
            .SetIds(RankingFeatureCatalog.UserRecentItems, ["r1", "r2"])
            .SetIds(RankingFeatureCatalog.UserSessionItems, ["r1"])
            .SetVector(RankingFeatureCatalog.UserEmbedding, [1, 2, 0]);
        var context = new Dictionary<string, EntityValues>
        {
            ["r1"] = new EntityValues().SetIds(RankingFeatureCatalog.ItemCategories, ["news"]).SetNumber(RankingFeatureCatalog.ItemPopularity, Math.E - 1),
            ["r2"] = new EntityValues().SetIds(RankingFeatureCatalog.ItemCategories, ["film"]),
        };
        var item = new EntityValues()
            .SetIds(RankingFeatureCatalog.ItemCategories, ["news", "tech"])
            .SetVector(RankingFeatureCatalog.ItemEmbedding, [3, 0, 4]);
        string[] columns = ["als_score", "als_cosine", "recent_category_match", "session_category_match", "session_avg_log_popularity",
            "session_interaction_count", "user_log_days_since_last_event", "item_log_popularity", "item_category_count"];
        var computer = new RankingRowComputer(columns);
        var rows = new float[2 * columns.Length];
        var defaulted = computer.Compute(new RankingRequestValues(user, context, Now, "home"), [item, EntityValues.Empty], rows);

        Assert.Equal(3f, rows[0]);                                    // (1, 2, 0) . (3, 0, 4)
        Assert.Equal(3f / (MathF.Sqrt(5) * 5), rows[1], 5);
        Assert.Equal(0.5f, rows[2]);                                  // r1 shares "news", r2 does not
        Assert.Equal(1f, rows[3]);
        Assert.Equal(1f, rows[4], 5);                                 // log(1 + (e - 1))
        Assert.Equal(1f, rows[5]);
        Assert.Equal(MathF.Log(3), rows[6], 5);
        Assert.Equal(0f, rows[7]);                                    // no popularity for the item: default, counted
        Assert.Equal(2f, rows[8]);

        // The empty candidate: its 6 item-dependent features default; the 3 user-side ones (session popularity and count,
        // days since the last event) are still known.
        Assert.Equal(0f, rows[columns.Length]);
        Assert.Equal(1f, rows[columns.Length + 5]);
        Assert.Equal(1 + 6, defaulted);
    }

    [Fact]
    public void Embedding_products_are_the_terms_of_the_als_score_and_only_the_main_stage_reads_them()
    {
        var user = new EntityValues().SetVector(RankingFeatureCatalog.UserEmbedding, [1, 2, -1]);
        var item = new EntityValues().SetVector(RankingFeatureCatalog.ItemEmbedding, [3, 0.5f, 4]);
        var shorter = new EntityValues().SetVector(RankingFeatureCatalog.ItemEmbedding, [3, 0.5f]);
        string[] columns = ["als_score", .. Enumerable.Range(0, 4).Select(RankingFeatureCatalog.EmbeddingProductName)];
        var computer = new RankingRowComputer(columns);
        var rows = new float[3 * columns.Length];
        var defaulted = computer.Compute(new RankingRequestValues(user, new Dictionary<string, EntityValues>(), Now, null), [item, shorter, EntityValues.Empty], rows);

        Assert.Equal([0f, 3f, 1f, -4f, 0f], rows[..columns.Length]);   // 3 + 1 - 4; coordinate 3 is past the 3-dimensional vectors: 0
        Assert.Equal(rows[0], rows[1] + rows[2] + rows[3], 5);
        // A vector of another length (another model) and a missing one default, like the dot product.
        Assert.All(rows[columns.Length..], v => Assert.Equal(0f, v));
        Assert.Equal(2 * columns.Length, defaulted);

        Assert.Equal("als_product_07", RankingFeatureCatalog.EmbeddingProductName(7));
        Assert.Equal(RankingFeatureCatalog.EmbeddingProductDimensions, RankingFeatureCatalog.Names.Count(n => n.StartsWith("als_product_", StringComparison.Ordinal)));
        Assert.DoesNotContain(RankingFeatureCatalog.CheapNames, n => n.StartsWith("als_product_", StringComparison.Ordinal));
    }

    [Fact]
    public void Unknown_columns_are_refused_and_the_cheap_features_are_a_subset()
    {
        Assert.Throws<ArgumentException>(() => new RankingRowComputer(["als_score", "nope"]));
        Assert.Subset(RankingFeatureCatalog.Names.ToHashSet(), RankingFeatureCatalog.CheapNames.ToHashSet());
        Assert.Equal(RankingFeatureCatalog.Names.Count, RankingFeatureCatalog.Names.Distinct().Count());
    }

    [Theory]
    [InlineData(null, 0, 4, 0)]
    [InlineData("home", 9, 0, 0)]
    [InlineData("SEARCH", 10, 2, 1)]
    [InlineData("elsewhere", 5_000, 4, 3)]
    public void Segments_map_the_context_and_the_user_activity(string? context, double events, int expectedContext, int expectedBucket)
    {
        var user = new EntityValues().SetNumber(RankingFeatureCatalog.UserEventsTotal, events);
        var segment = RankingSegments.Of(new RankingRequestValues(user, new Dictionary<string, EntityValues>(), Now, context));
        Assert.Equal(expectedContext, segment.Context);
        Assert.Equal(expectedBucket, segment.ActivityBucket);
    }
}
