using RecSys.Ranking.Features;

namespace RecSys.Ranking.Tests.Features;

/// <summary>The per-request shortcuts of <see cref="RequestSide"/> (inverted category sets, norms computed once) against the definitions.</summary>
public sealed class RequestSideTests
{
    private static readonly long Now = new DateTimeOffset(2026, 11, 20, 12, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();

    [Theory]
    [InlineData(1, 50, 20)]
    [InlineData(2, 64, 1)]
    [InlineData(3, 65, 0)]
    [InlineData(4, 150, 20)]
    [InlineData(5, 0, 3)]
    public void Category_match_counts_the_consumed_items_sharing_a_category_of_the_candidate(int seed, int recentCount, int sessionCount)
    {
        var random = new Random(seed);
        string Category() => "c" + random.Next(12);
        var context = new Dictionary<string, EntityValues>(StringComparer.Ordinal);
        var recent = new List<string>();
        for (var i = 0; i < recentCount; i++)
        {
            var id = "r" + random.Next(recentCount + 1);
            recent.Add(id);
            // Some consumed items have no categories (no set for them), some repeat a category.
            context[id] = random.Next(10) == 0 ? new EntityValues() : new EntityValues().SetIds(RankingFeatureCatalog.ItemCategories, [Category(), Category()]);
        }

        var session = recent.Take(sessionCount).ToList();
        var user = new EntityValues().SetIds(RankingFeatureCatalog.UserRecentItems, recent).SetIds(RankingFeatureCatalog.UserSessionItems, session);
        var side = new RequestSide(new RankingRequestValues(user, context, Now, null));
        for (var c = 0; c < 200; c++)
        {
            IReadOnlyList<string> categories = [.. Enumerable.Range(0, random.Next(4)).Select(_ => Category())];
            var candidate = new EntityValues().SetIds(RankingFeatureCatalog.ItemCategories, categories);
            Assert.Equal(Expected(recent, context, categories), side.RecentCategoryMatch(candidate));
            Assert.Equal(Expected(session, context, categories), side.SessionCategoryMatch(candidate));
        }

        Assert.Null(side.RecentCategoryMatch(new EntityValues()));
    }

    [Theory]
    [InlineData(1, 30)]
    [InlineData(2, 3)]
    [InlineData(3, 1)]
    [InlineData(4, 0)]
    [InlineData(5, 7)]
    public void Both_top_similarities_from_one_set_of_cosines_equal_the_features_bit_for_bit(int seed, int recentCount)
    {
        const int Width = 16;
        var random = new Random(seed);
        float[] Vector(int width) => [.. Enumerable.Range(0, width).Select(_ => (float)(random.NextDouble() - 0.5) * 3)];
        var context = new Dictionary<string, EntityValues>(StringComparer.Ordinal);
        var recent = new List<string>();
        float[]? repeated = null;
        for (var i = 0; i < recentCount; i++)
        {
            var id = "r" + i;
            recent.Add(id);
            // Another width (left out of the units), no embedding, a zero vector (no unit), and repeats (equal cosines).
            float[]? vector = random.Next(8) switch
            {
                0 => Vector(Width / 2),
                1 => null,
                2 => new float[Width],
                3 => repeated ??= Vector(Width),
                _ => Vector(Width),
            };
            context[id] = vector is null ? new EntityValues() : new EntityValues().SetVector(RankingFeatureCatalog.ItemEmbedding, vector);
        }

        var user = new EntityValues().SetIds(RankingFeatureCatalog.UserRecentItems, recent);
        var side = new RequestSide(new RankingRequestValues(user, context, Now, null));
        var units = side.RecentUnitsOfWidth(Width);
        for (var c = 0; c < 300; c++)
        {
            var v = random.Next(10) switch
            {
                0 => new float[Width],
                1 => repeated ?? Vector(Width),
                2 => [.. Vector(Width).Select((x, i) => i == 3 ? float.NaN : x)],
                _ => Vector(Width),
            };
            var item = new EntityValues().SetVector(RankingFeatureCatalog.ItemEmbedding, v);
            var top = side.RecentTopWith(units, v, item.VectorNorm(RankingFeatureCatalog.ItemEmbedding, v));
            AssertSameBits(side.RecentMaxSimilarity(item), top.Max);
            AssertSameBits(side.RecentTopSimilarity(item, 3), top.Top3);
        }
    }

    private static void AssertSameBits(float? expected, float? actual)
    {
        Assert.Equal(expected.HasValue, actual.HasValue);
        if (expected is { } e)
        {
            Assert.Equal(BitConverter.SingleToInt32Bits(e), BitConverter.SingleToInt32Bits(actual!.Value));
        }
    }

    [Fact]
    public void Cosines_equal_the_definition_and_the_remembered_norm_follows_a_new_vector()
    {
        var random = new Random(5);
        float[] Vector() => [.. Enumerable.Range(0, 16).Select(_ => (float)(random.NextDouble() - 0.5))];
        var user = new EntityValues().SetVector(RankingFeatureCatalog.UserEmbedding, Vector());
        var item = new EntityValues().SetVector(RankingFeatureCatalog.ItemEmbedding, Vector());
        var side = new RequestSide(new RankingRequestValues(user, new Dictionary<string, EntityValues>(), Now, null));
        for (var round = 0; round < 3; round++)
        {
            var u = user.Vector(RankingFeatureCatalog.UserEmbedding)!;
            var v = item.Vector(RankingFeatureCatalog.ItemEmbedding)!;
            Assert.Equal(Cosine(u, v), side.Cosine(item));
            Assert.Equal(Cosine(u, v), side.Cosine(item));
            Assert.Equal(RequestSide.Norm(v), item.VectorNorm(RankingFeatureCatalog.ItemEmbedding, v));
            item.SetVector(RankingFeatureCatalog.ItemEmbedding, Vector());
        }
    }

    [Fact]
    public void Rows_from_precomputed_item_values_equal_rows_computed_from_scratch()
    {
        var random = new Random(11);
        float[] Vector() => [.. Enumerable.Range(0, 16).Select(_ => (float)(random.NextDouble() - 0.5))];
        EntityValues Item()
        {
            var item = new EntityValues();
            // Each value missing now and then, so that precomputed nulls (defaults) are covered too.
            void Maybe(Action set)
            {
                if (random.Next(6) != 0)
                {
                    set();
                }
            }

            Maybe(() => item.SetNumber(RankingFeatureCatalog.ItemEventsTotal, random.Next(1_000)));
            Maybe(() => item.SetNumber(RankingFeatureCatalog.ItemEngagementTotal, random.Next(500)));
            Maybe(() => item.SetNumber(RankingFeatureCatalog.ItemEngagement7d, random.Next(50)));
            Maybe(() => item.SetNumber(RankingFeatureCatalog.ItemEngagement30d, random.Next(200)));
            Maybe(() => item.SetNumber(RankingFeatureCatalog.ItemPopularity, random.NextDouble() * 30));
            Maybe(() => item.SetIds(RankingFeatureCatalog.ItemCategories, ["c" + random.Next(5), "c" + random.Next(5)]));
            Maybe(() => item.SetVector(RankingFeatureCatalog.ItemEmbedding, Vector()));
            return item;
        }

        var context = Enumerable.Range(0, 30).ToDictionary(i => "r" + i, _ => Item(), StringComparer.Ordinal);
        var user = new EntityValues()
            .SetNumber(RankingFeatureCatalog.UserEventsTotal, 120)
            .SetIds(RankingFeatureCatalog.UserRecentItems, [.. context.Keys])
            .SetIds(RankingFeatureCatalog.UserSessionItems, [.. context.Keys.Take(4)])
            .SetVector(RankingFeatureCatalog.UserEmbedding, Vector());
        var request = new RankingRequestValues(user, context, Now, null);
        var plain = Enumerable.Range(0, 300).Select(_ => Item()).ToArray();
        // The same values, precomputed as the item table does.
        var precomputed = plain.Select(p =>
        {
            var copy = new EntityValues();
            foreach (var (name, value) in p.All)
            {
                copy.Set(name, value);
            }

            copy.PrecomputeItemFeatures();
            return copy;
        }).ToArray();

        var computer = new RankingRowComputer(RankingFeatureCatalog.Names);
        var expected = new float[plain.Length * computer.Width];
        var actual = new float[plain.Length * computer.Width];
        var expectedDefaults = computer.Compute(request, plain, expected);
        var actualDefaults = computer.Compute(request, precomputed, actual);
        Assert.Equal(expected, actual);
        Assert.Equal(expectedDefaults, actualDefaults);
        Assert.True(precomputed[0].TryItemFeature(0, out _));

        // A value set afterwards drops what was precomputed.
        precomputed[0].SetNumber(RankingFeatureCatalog.ItemEventsTotal, 5);
        Assert.False(precomputed[0].TryItemFeature(0, out _));
    }

    private static float? Expected(List<string> consumed, Dictionary<string, EntityValues> context, IReadOnlyList<string> categories)
    {
        var sets = consumed.Where(id => context[id].Ids(RankingFeatureCatalog.ItemCategories) is not null)
            .Select(id => context[id].Ids(RankingFeatureCatalog.ItemCategories)!.ToHashSet(StringComparer.Ordinal)).ToList();
        if (sets.Count == 0)
        {
            return null;
        }

        return (float)sets.Count(set => categories.Any(set.Contains)) / sets.Count;
    }

    // The definition: sequential sums in double, as the catalog's features compute them.
    private static float Cosine(float[] a, float[] b)
    {
        static float Dot(float[] x, float[] y)
        {
            double sum = 0;
            for (var i = 0; i < x.Length; i++)
            {
                sum += (double)x[i] * y[i];
            }

            return (float)sum;
        }

        var na = MathF.Sqrt(Dot(a, a));
        var nb = MathF.Sqrt(Dot(b, b));
        return na == 0 || nb == 0 ? 0 : Dot(a, b) / (na * nb);
    }
}
