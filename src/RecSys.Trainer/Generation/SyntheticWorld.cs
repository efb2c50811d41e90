using RecSys.Core.Contracts;

namespace RecSys.Trainer.Generation;

/// <summary>
/// The latent side of a synthetic world: category centroids, creators, items and users with taste vectors and item
/// popularity. Memory is O(users + items); events are produced as a stream by <see cref="WorldEventGenerator"/>.
/// Every part draws from its own <see cref="Rng.For"/> stream, so the world depends only on the options.
/// </summary>
public sealed class SyntheticWorld
{
    // Stream ids for Rng.For; changing one changes every world generated from now on.
    private const int CategoryStream = 1;
    private const int CreatorStream = 2;
    private const int ItemStream = 3;
    private const int UserStream = 4;
    private const int PopularityStream = 5;
    private const int ItemTextStream = 7;

    /// <summary>Spread of the log-normal law of events per user (1.0: the top 1% of users make ~10% of events).</summary>
    private const double UserActivitySigma = 1.0;

    private readonly AliasTable[] _itemsByCategory;
    private readonly int[][] _categoryItems;
    private readonly AliasTable?[] _creatorsByCategory;
    private readonly int[][] _categoryCreators;
    private readonly AliasTable _tagWordTable;
    private readonly string[][] _words;

    private SyntheticWorld(WorldOptions options)
    {
        Options = options;
        var d = options.Dimensions;
        var c = options.Categories;
        var seed = options.Seed;

        CategoryNames = new string[c];
        CategoryCentroids = new float[c * d];
        _words = new string[c][];
        var categoryRng = Rng.For(seed, CategoryStream);
        for (var k = 0; k < c; k++)
        {
            CategoryNames[k] = Vocabulary.CategoryName(k);
            RandomUnit(ref categoryRng, CategoryCentroids.AsSpan(k * d, d));
            _words[k] = Vocabulary.WordsFor(seed, k);
        }

        _tagWordTable = new AliasTable(ZipfWeights(Vocabulary.WordsPerCategory, 1.0, null));

        // Creators: 1-2 categories each (the primary drawn from a mild Zipf over categories) and a prolificness.
        var categoryWeights = ZipfWeights(c, 0.7, null);
        var categoryTable = new AliasTable(categoryWeights);
        CreatorPrimary = new int[options.Creators];
        CreatorSecondary = new int[options.Creators];
        var creatorWeights = new double[options.Creators];
        var creatorRng = Rng.For(seed, CreatorStream);
        for (var i = 0; i < options.Creators; i++)
        {
            CreatorPrimary[i] = categoryTable.Sample(ref creatorRng);
            var second = c > 1 && creatorRng.Chance(0.5) ? categoryTable.Sample(ref creatorRng) : -1;
            CreatorSecondary[i] = second == CreatorPrimary[i] ? -1 : second;
            creatorWeights[i] = 1.0 / Math.Pow(1 + creatorRng.NextInt(options.Creators), 0.8);
        }

        var creatorTable = new AliasTable(creatorWeights);

        // Item popularity: a random permutation gives each item a rank; weight = 1 / (rank + 1)^s.
        var n = options.Items;
        ItemRank = new int[n];
        for (var i = 0; i < n; i++)
        {
            ItemRank[i] = i;
        }

        var popularityRng = Rng.For(seed, PopularityStream);
        for (var i = n - 1; i > 0; i--)
        {
            var j = popularityRng.NextInt(i + 1);
            (ItemRank[i], ItemRank[j]) = (ItemRank[j], ItemRank[i]);
        }

        ItemVectors = new float[n * d];
        ItemCategories = new int[n * 3];
        ItemCreator = new int[n];
        ItemCreatedTicks = new long[n];
        var startTicks = options.Start.UtcTicks;
        var periodTicks = options.End.UtcTicks - startTicks;
        var mix = new double[d];
        var categorySizes = new int[c];
        for (var i = 0; i < n; i++)
        {
            var rng = Rng.For(seed, ItemStream, i);
            var creator = creatorTable.Sample(ref rng);
            ItemCreator[i] = creator;
            var cats = ItemCategories.AsSpan(i * 3, 3);
            cats.Fill(-1);
            cats[0] = CreatorPrimary[creator];
            var count = 1;
            if (CreatorSecondary[creator] >= 0 && rng.Chance(0.5))
            {
                cats[count++] = CreatorSecondary[creator];
            }

            if (c > count && rng.Chance(0.3))
            {
                var extra = rng.NextInt(c);
                if (!cats[..count].Contains(extra))
                {
                    cats[count++] = extra;
                }
            }

            Array.Clear(mix);
            ReadOnlySpan<double> strength = [0.9, 0.45, 0.3];
            for (var k = 0; k < count; k++)
            {
                categorySizes[cats[k]]++;
                var centroid = CategoryCentroids.AsSpan(cats[k] * d, d);
                for (var x = 0; x < d; x++)
                {
                    mix[x] += strength[k] * centroid[x];
                }
            }

            AddNoiseAndNormalize(ref rng, mix, 0.5, ItemVectors.AsSpan(i * d, d));

            // Half of the catalog predates the event period, the rest appears during it.
            var created = rng.Chance(0.5)
                ? startTicks - (long)(rng.NextDouble() * periodTicks)
                : startTicks + (long)(rng.NextDouble() * periodTicks);
            ItemCreatedTicks[i] = created - (created % TimeSpan.TicksPerSecond);
        }

        // Per-category alias tables over items (by popularity) and creators (by prolificness): sampling is O(1).
        _categoryItems = new int[c][];
        for (var k = 0; k < c; k++)
        {
            _categoryItems[k] = new int[categorySizes[k]];
        }

        var fill = new int[c];
        for (var i = 0; i < n; i++)
        {
            for (var k = 0; k < 3; k++)
            {
                var cat = ItemCategories[i * 3 + k];
                if (cat >= 0)
                {
                    _categoryItems[cat][fill[cat]++] = i;
                }
            }
        }

        _itemsByCategory = new AliasTable[c];
        for (var k = 0; k < c; k++)
        {
            var members = _categoryItems[k];
            if (members.Length == 0)
            {
                continue;
            }

            var weights = new double[members.Length];
            for (var j = 0; j < members.Length; j++)
            {
                weights[j] = PopularityWeight(members[j]);
            }

            _itemsByCategory[k] = new AliasTable(weights);
        }

        var creatorLists = new List<int>[c];
        for (var k = 0; k < c; k++)
        {
            creatorLists[k] = [];
        }

        for (var i = 0; i < options.Creators; i++)
        {
            creatorLists[CreatorPrimary[i]].Add(i);
            if (CreatorSecondary[i] >= 0)
            {
                creatorLists[CreatorSecondary[i]].Add(i);
            }
        }

        _categoryCreators = new int[c][];
        _creatorsByCategory = new AliasTable?[c];
        for (var k = 0; k < c; k++)
        {
            _categoryCreators[k] = [.. creatorLists[k]];
            if (_categoryCreators[k].Length > 0)
            {
                _creatorsByCategory[k] = new AliasTable(_categoryCreators[k].Select(x => creatorWeights[x]).ToArray());
            }
        }

        // Users: a mix of 1-3 categories plus noise, and a heavy-tailed activity level.
        UserVectors = new float[options.Users * d];
        UserEventBudget = new float[options.Users];
        for (var u = 0; u < options.Users; u++)
        {
            var rng = Rng.For(seed, UserStream, u);
            Array.Clear(mix);
            var interests = 1 + rng.NextInt(3);
            ReadOnlySpan<double> strength = [1.0, 0.6, 0.4];
            for (var k = 0; k < interests; k++)
            {
                var centroid = CategoryCentroids.AsSpan(categoryTable.Sample(ref rng) * d, d);
                for (var x = 0; x < d; x++)
                {
                    mix[x] += strength[k] * centroid[x];
                }
            }

            AddNoiseAndNormalize(ref rng, mix, 0.5, UserVectors.AsSpan(u * d, d));
            var activity = Math.Exp(UserActivitySigma * rng.NextGaussian() - UserActivitySigma * UserActivitySigma / 2);
            UserEventBudget[u] = (float)Math.Min(options.EventsPerUser * activity, options.EventsPerUser * 50);
        }
    }

    public WorldOptions Options { get; }
    public string[] CategoryNames { get; }

    /// <summary>Row-major, <c>Categories x Dimensions</c>, unit length.</summary>
    public float[] CategoryCentroids { get; }

    /// <summary>Row-major, <c>Items x Dimensions</c>, unit length.</summary>
    public float[] ItemVectors { get; }

    /// <summary>Three slots per item, -1 when unused; the first is always set.</summary>
    public int[] ItemCategories { get; }
    public int[] ItemCreator { get; }

    /// <summary>Popularity rank of each item: 0 is the most popular.</summary>
    public int[] ItemRank { get; }
    public long[] ItemCreatedTicks { get; }

    /// <summary>Row-major, <c>Users x Dimensions</c>, unit length.</summary>
    public float[] UserVectors { get; }

    /// <summary>Expected number of events of each user over the whole period.</summary>
    public float[] UserEventBudget { get; }
    public int[] CreatorPrimary { get; }

    /// <summary>Second category of each creator, -1 when it has one only.</summary>
    public int[] CreatorSecondary { get; }

    public static SyntheticWorld Build(WorldOptions options)
    {
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", errors), nameof(options));
        }

        return new SyntheticWorld(options);
    }

    public static string UserId(int user) => $"u{user}";
    public static string ItemId(int item) => $"i{item}";
    public static string CreatorId(int creator) => $"c{creator}";

    public double PopularityWeight(int item) => 1.0 / Math.Pow(ItemRank[item] + 1, Options.ZipfExponent);

    /// <summary>1 for the most popular item, towards 0 for the least.</summary>
    public double PopularityPercentile(int item) => 1.0 - (double)ItemRank[item] / Options.Items;

    public ReadOnlySpan<float> UserVector(int user) => UserVectors.AsSpan(user * Options.Dimensions, Options.Dimensions);
    public ReadOnlySpan<float> ItemVector(int item) => ItemVectors.AsSpan(item * Options.Dimensions, Options.Dimensions);

    public double Affinity(int user, int item) => Dot(UserVector(user), ItemVector(item));

    /// <summary>The user's affinity to each category: a softmax of taste . centroid, written as a cumulative distribution.</summary>
    internal void CategoryCumulative(int user, Span<double> cumulative)
    {
        var d = Options.Dimensions;
        var u = UserVector(user);
        var total = 0.0;
        for (var k = 0; k < cumulative.Length; k++)
        {
            var weight = _categoryItems[k].Length == 0 ? 0 : Math.Exp(6.0 * Dot(u, CategoryCentroids.AsSpan(k * d, d))) + 0.02;
            total += weight;
            cumulative[k] = total;
        }
    }

    internal int SampleItemInCategory(ref Rng rng, int category) =>
        _categoryItems[category].Length == 0 ? -1 : _categoryItems[category][_itemsByCategory[category].Sample(ref rng)];

    internal int SampleCreatorInCategory(ref Rng rng, int category) =>
        _creatorsByCategory[category] is { } table ? _categoryCreators[category][table.Sample(ref rng)] : -1;

    /// <summary>The catalog as wire DTOs, in id order; tags and titles come from per-item streams, so this can be replayed.</summary>
    public IEnumerable<ItemDto> Items()
    {
        var tags = new List<string>(8);
        for (var i = 0; i < Options.Items; i++)
        {
            var rng = Rng.For(Options.Seed, ItemTextStream, i);
            var categories = new List<string>(3);
            for (var k = 0; k < 3; k++)
            {
                var cat = ItemCategories[i * 3 + k];
                if (cat >= 0)
                {
                    categories.Add(CategoryNames[cat]);
                }
            }

            tags.Clear();
            var tagCount = 2 + rng.NextInt(4);
            for (var t = 0; t < tagCount * 2 && tags.Count < tagCount; t++)
            {
                var cat = ItemCategories[i * 3 + rng.NextInt(categories.Count)];
                var word = _words[cat][_tagWordTable.Sample(ref rng)];
                if (!tags.Contains(word))
                {
                    tags.Add(word);
                }
            }

            var titleCategory = ItemCategories[i * 3];
            var title = $"{Vocabulary.Capitalize(_words[titleCategory][rng.NextInt(Vocabulary.WordsPerCategory)])} " +
                $"{Vocabulary.Capitalize(_words[titleCategory][rng.NextInt(Vocabulary.WordsPerCategory)])} {i}";
            yield return new ItemDto(
                ItemId(i),
                CreatorId(ItemCreator[i]),
                categories,
                [.. tags],
                new DateTimeOffset(ItemCreatedTicks[i], TimeSpan.Zero),
                !rng.Chance(0.02),
                title);
        }
    }

    internal static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var sum = 0.0;
        for (var i = 0; i < a.Length; i++)
        {
            sum += a[i] * b[i];
        }

        return sum;
    }

    private static double[] ZipfWeights(int n, double exponent, int[]? ranks)
    {
        var weights = new double[n];
        for (var i = 0; i < n; i++)
        {
            weights[i] = 1.0 / Math.Pow((ranks?[i] ?? i) + 1, exponent);
        }

        return weights;
    }

    private static void RandomUnit(ref Rng rng, Span<float> target)
    {
        var sum = 0.0;
        for (var i = 0; i < target.Length; i++)
        {
            var g = rng.NextGaussian();
            target[i] = (float)g;
            sum += g * g;
        }

        var inv = 1.0 / Math.Sqrt(Math.Max(sum, 1e-12));
        for (var i = 0; i < target.Length; i++)
        {
            target[i] = (float)(target[i] * inv);
        }
    }

    private static void AddNoiseAndNormalize(ref Rng rng, double[] mix, double noiseNorm, Span<float> target)
    {
        var sigma = noiseNorm / Math.Sqrt(mix.Length);
        var sum = 0.0;
        for (var i = 0; i < mix.Length; i++)
        {
            mix[i] += sigma * rng.NextGaussian();
            sum += mix[i] * mix[i];
        }

        var inv = 1.0 / Math.Sqrt(Math.Max(sum, 1e-12));
        for (var i = 0; i < mix.Length; i++)
        {
            target[i] = (float)(mix[i] * inv);
        }
    }
}
