using RecSys.Ranking.Features;

namespace RecSys.Ranking.Tests.Features;

/// <summary>
/// Rows from the item table's columns (<see cref="ColumnarRowComputer"/>) against the catalog's general path
/// (<see cref="RankingRowComputer"/> over the items' values), bit for bit, over generated catalogs with missing, NaN, infinite
/// and negative values, items without events, embeddings or categories, embeddings of another width, and users of every kind.
/// </summary>
public sealed class ColumnarRowComputerTests
{
    private static readonly long Now = new DateTimeOffset(2026, 11, 20, 12, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();

    [Theory]
    [InlineData(1, 8, 40, 600)]
    [InlineData(2, 16, 3, 600)]
    [InlineData(3, 4, 200, 600)]
    [InlineData(4, 8, 1, 600)]
    [InlineData(5, 8, 1_000_000, 5_000)] // more distinct categories than the matcher keeps in arrays
    public void Rows_from_the_columns_equal_the_general_path_bit_for_bit(int seed, int dimension, int categories, int items)
    {
        var random = new Random(seed);
        var catalog = new Dictionary<string, EntityValues>(StringComparer.Ordinal);
        var reference = new Dictionary<string, EntityValues>(StringComparer.Ordinal);
        for (var i = 0; i < items; i++)
        {
            // Two equal copies: one goes into the snapshot (precomputed, shared), the other stays as the store would return it.
            var itemSeed = random.Next();
            catalog["i" + i] = Item(new Random(itemSeed), dimension, categories);
            reference["i" + i] = Item(new Random(itemSeed), dimension, categories);
        }

        var snapshot = ItemFeatureSnapshot.Of(catalog);
        Assert.NotNull(snapshot.Columns);
        Assert.Equal(categories > 10_000, snapshot.Columns.CategoryNumbers.Count > 4096);
        var general = new RankingRowComputer(RankingFeatureCatalog.Names);
        var columnar = new ColumnarRowComputer(general);
        var width = general.Width;

        for (var u = 0; u < 40; u++)
        {
            var request = Request(random, catalog, dimension, categories);
            var side = new RequestSide(request);
            var shared = columnar.Begin(side, snapshot);
            var candidates = Enumerable.Range(0, 300).Select(_ => "i" + random.Next(items)).ToArray();
            var expected = new float[width];
            var fromTable = new float[width];
            var actual = new float[width];
            foreach (var id in candidates)
            {
                Assert.True(snapshot.TryGetNumber(id, out var number));
                var expectedDefaulted = general.ComputeRow(side, reference[id], expected, 0, width);
                var tableDefaulted = general.ComputeRow(side, snapshot.ValuesAt(number), fromTable, 0, width);

                // In two parts, as the provider computes them (the pre-ranker's columns, then the main stage's).
                var split = random.Next(width + 1);
                var defaulted = columnar.ComputeRow(shared, number, actual, 0, split) + columnar.ComputeRow(shared, number, actual, split, width);

                AssertBitwiseEqual(expected, fromTable, id);
                AssertBitwiseEqual(expected, actual, id);
                Assert.Equal(expectedDefaulted, tableDefaulted);
                Assert.Equal(expectedDefaulted, defaulted);
            }
        }
    }

    [Fact]
    public void Any_column_subset_in_any_order_is_computed_as_the_general_path()
    {
        var random = new Random(7);
        var catalog = new Dictionary<string, EntityValues>(StringComparer.Ordinal);
        for (var i = 0; i < 100; i++)
        {
            catalog["i" + i] = Item(random, 8, 10);
        }

        var snapshot = ItemFeatureSnapshot.Of(catalog);
        for (var trial = 0; trial < 20; trial++)
        {
            string[] columns = [.. RankingFeatureCatalog.Names.OrderBy(_ => random.Next()).Take(1 + random.Next(RankingFeatureCatalog.Names.Count))];
            var general = new RankingRowComputer(columns);
            var columnar = new ColumnarRowComputer(general);
            var side = new RequestSide(Request(random, catalog, 8, 10));
            var shared = columnar.Begin(side, snapshot);
            var expected = new float[columns.Length];
            var actual = new float[columns.Length];
            for (var number = 0; number < snapshot.Count; number++)
            {
                var expectedDefaulted = general.ComputeRow(side, snapshot.ValuesAt(number), expected, 0, columns.Length);
                Assert.Equal(expectedDefaulted, columnar.ComputeRow(shared, number, actual, 0, columns.Length));
                AssertBitwiseEqual(expected, actual, string.Join(",", columns));
            }
        }
    }

    [Fact]
    public void Numbers_belong_to_one_snapshot_and_a_new_snapshot_renumbers_without_touching_the_old()
    {
        var first = ItemFeatureSnapshot.Of([new("a", new EntityValues().SetNumber(RankingFeatureCatalog.ItemEventsTotal, 3)), new("b", new EntityValues())], version: 1);
        var second = ItemFeatureSnapshot.Of([new("b", new EntityValues().SetNumber(RankingFeatureCatalog.ItemEventsTotal, 8)), new("c", new EntityValues())], version: 2);

        Assert.True(first.TryGetNumber("b", out var inFirst));
        Assert.True(second.TryGetNumber("b", out var inSecond));
        Assert.NotEqual(inFirst, inSecond);
        Assert.False(first.TryGetNumber("c", out _));
        Assert.False(second.TryGetNumber("a", out _));

        // A request holds its snapshot: the rows of its numbers are that snapshot's values, whatever was published since.
        var general = new RankingRowComputer(["item_log_events"]);
        var columnar = new ColumnarRowComputer(general);
        var side = new RequestSide(new RankingRequestValues(new EntityValues(), new Dictionary<string, EntityValues>(), Now, null));
        var row = new float[1];
        Assert.Equal(1, columnar.ComputeRow(columnar.Begin(side, first), inFirst, row, 0, 1));
        Assert.Equal(0f, row[0]);
        Assert.Equal(0, columnar.ComputeRow(columnar.Begin(side, second), inSecond, row, 0, 1));
        Assert.Equal((float)Math.Log(9), row[0]);
    }

    private static void AssertBitwiseEqual(float[] expected, float[] actual, string what)
    {
        for (var c = 0; c < expected.Length; c++)
        {
            Assert.True(BitConverter.SingleToInt32Bits(expected[c]) == BitConverter.SingleToInt32Bits(actual[c]),
                $"{what}, column {c}: expected {expected[c]:R}, got {actual[c]:R}");
        }
    }

    /// <summary>An item's values as the store may hold them: each feature present, absent, or an odd number.</summary>
    private static EntityValues Item(Random random, int dimension, int categories)
    {
        var values = new EntityValues();
        if (random.Next(6) == 0)
        {
            return values; // no events at all
        }

        foreach (var feature in new[]
        {
            RankingFeatureCatalog.ItemEventsTotal, RankingFeatureCatalog.ItemEngagementTotal, RankingFeatureCatalog.ItemEngagement7d,
            RankingFeatureCatalog.ItemEngagement30d, RankingFeatureCatalog.ItemPopularity,
        })
        {
            switch (random.Next(10))
            {
                case 0:
                    break;
                case 1:
                    values.SetNumber(feature, double.NaN);
                    break;
                case 2:
                    values.SetNumber(feature, random.Next(2) == 0 ? double.PositiveInfinity : -1);
                    break;
                case 3:
                    values.SetNumber(feature, 0);
                    break;
                default:
                    values.SetNumber(feature, Math.Round(random.NextDouble() * 1000, random.Next(4)));
                    break;
            }
        }

        switch (random.Next(8))
        {
            case 0:
                break;
            case 1:
                values.SetIds(RankingFeatureCatalog.ItemCategories, []);
                break;
            default:
                values.SetIds(RankingFeatureCatalog.ItemCategories, [.. Enumerable.Range(0, 1 + random.Next(3)).Select(_ => "c" + random.Next(categories))]);
                break;
        }

        switch (random.Next(12))
        {
            case 0:
                break;
            case 1:
                values.SetVector(RankingFeatureCatalog.ItemEmbedding, new float[dimension]); // a zero vector
                break;
            case 2:
                values.SetVector(RankingFeatureCatalog.ItemEmbedding, Vector(random, dimension + 1)); // another width: served by the general path
                break;
            default:
                values.SetVector(RankingFeatureCatalog.ItemEmbedding, Vector(random, dimension));
                break;
        }

        return values;
    }

    private static float[] Vector(Random random, int dimension) => [.. Enumerable.Range(0, dimension).Select(_ => (float)((random.NextDouble() * 2) - 1))];

    /// <summary>A user with any of: activity, an embedding (of the catalog's width or not), recent and session items of the catalog or unknown.</summary>
    private static RankingRequestValues Request(Random random, Dictionary<string, EntityValues> catalog, int dimension, int categories)
    {
        var user = new EntityValues();
        var kind = random.Next(5);
        if (kind == 0)
        {
            return new RankingRequestValues(user, new Dictionary<string, EntityValues>(StringComparer.Ordinal), Now, null);
        }

        user.SetNumber(RankingFeatureCatalog.UserEventsTotal, random.Next(500));
        if (random.Next(3) > 0)
        {
            user.SetNumber(RankingFeatureCatalog.UserEngagementTotal, random.Next(2) == 0 ? double.NaN : random.Next(300));
        }

        user.SetNumber(RankingFeatureCatalog.UserLastEventMs, Now - random.Next(1_000_000_000));
        if (kind != 1)
        {
            user.SetVector(RankingFeatureCatalog.UserEmbedding, Vector(random, random.Next(8) == 0 ? dimension + 1 : dimension));
        }

        var context = new Dictionary<string, EntityValues>(StringComparer.Ordinal);
        string Pick()
        {
            if (random.Next(10) == 0)
            {
                var unknown = "u" + random.Next(1000);
                context[unknown] = new EntityValues().SetIds(RankingFeatureCatalog.ItemCategories, ["c" + random.Next(categories + 5)]);
                return unknown;
            }

            var id = "i" + random.Next(catalog.Count);
            context[id] = catalog[id];
            return id;
        }

        // Up to 100 recent items: more than 64 category sets takes the multi-word masks.
        var recent = Enumerable.Range(0, kind == 2 ? 0 : random.Next(100)).Select(_ => Pick()).ToList();
        user.SetIds(RankingFeatureCatalog.UserRecentItems, recent);
        if (random.Next(2) == 0)
        {
            user.SetIds(RankingFeatureCatalog.UserSessionItems, [.. Enumerable.Range(0, random.Next(6)).Select(_ => Pick())]);
        }

        return new RankingRequestValues(user, context, Now, random.Next(2) == 0 ? "home" : null);
    }
}
