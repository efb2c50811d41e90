using System.Globalization;
using RecSys.FeatureStore.OnlineStores;
using RecSys.FeatureStore.Serving;
using RecSys.Ranking.Features;

namespace RecSys.Ranking.Bench;

/// <summary>
/// A generated catalog and user base with the registry values the ranking features read, shaped like the seeded demo world:
/// heavy-tailed item activity, 1-3 of 40 categories per item, published embeddings (norm grows with popularity), users with
/// up to 50 recent items and, for some, a session. Clicks follow a planted model (taste, popularity, category affinity) so
/// that the trained rankers learn something and their trees and weights look like trained ones.
/// </summary>
public sealed class BenchWorld
{
    public const int Categories = 40;
    public const int Creators = 2_000;

    private readonly float[][] _itemDirections;
    private readonly float[][] _userTastes;

    public BenchWorld(int items, int users, int dimensions, int seed, DateTimeOffset now)
    {
        Now = now;
        Dimensions = dimensions;
        var random = new Random(seed);
        ItemIds = [.. Enumerable.Range(0, items).Select(i => "i" + i.ToString(CultureInfo.InvariantCulture))];
        UserIds = [.. Enumerable.Range(0, users).Select(u => "u" + u.ToString(CultureInfo.InvariantCulture))];
        _itemDirections = new float[items][];
        Items = new EntityValues[items];
        ItemValues = new Dictionary<string, FeatureValue>[items];
        Metadata = new ItemMetadata[items];
        Embeddings = new float[items][];
        for (var i = 0; i < items; i++)
        {
            var direction = Gaussian(random, dimensions, 1.0 / Math.Sqrt(dimensions));
            _itemDirections[i] = direction;
            var events = Math.Floor(Math.Exp(2.5 + (1.6 * Normal(random))));
            var engagement = Math.Floor(events * (0.2 + (0.6 * random.NextDouble())));
            var engagement30 = Math.Floor(engagement * random.NextDouble());
            var engagement7 = Math.Floor(engagement30 * random.NextDouble());
            var popularity = engagement7 * (0.5 + random.NextDouble());
            var norm = (float)(0.5 + (0.15 * Math.Log(1 + events)));
            var embedding = direction.Select(x => x * norm).ToArray();
            Embeddings[i] = embedding;
            var categories = Enumerable.Range(0, 1 + random.Next(3)).Select(_ => Category(random)).Distinct().ToArray();
            var values = new Dictionary<string, FeatureValue>(StringComparer.Ordinal)
            {
                [RankingFeatureCatalog.ItemEventsTotal] = Number(events),
                [RankingFeatureCatalog.ItemEngagementTotal] = Number(engagement),
                [RankingFeatureCatalog.ItemEngagement30d] = Number(engagement30),
                [RankingFeatureCatalog.ItemEngagement7d] = Number(engagement7),
                [RankingFeatureCatalog.ItemPopularity] = Number(popularity),
                [RankingFeatureCatalog.ItemCategories] = new FeatureValue(null, categories, null, false, false),
                [RankingFeatureCatalog.ItemEmbedding] = FeatureValue.OfVector(embedding, null),
            };
            ItemValues[i] = values;
            Items[i] = ToEntity(values);
            Metadata[i] = new ItemMetadata("c" + random.Next(Creators).ToString(CultureInfo.InvariantCulture), categories, true,
                now.AddHours(-random.NextDouble() * 24 * 60));
        }

        _userTastes = new float[users][];
        UserValues = new Dictionary<string, FeatureValue>[users];
        Users = new EntityValues[users];
        for (var u = 0; u < users; u++)
        {
            var taste = Gaussian(random, dimensions, 1.0 / Math.Sqrt(dimensions));
            _userTastes[u] = taste;
            var events = Math.Floor(Math.Exp(3.5 + (1.2 * Normal(random))));
            var recent = Enumerable.Range(0, (int)Math.Min(50, events)).Select(_ => ItemIds[random.Next(items)]).Distinct().ToArray();
            var session = random.NextDouble() < 0.4 ? recent.Take(1 + random.Next(Math.Min(20, recent.Length))).ToArray() : [];
            var values = new Dictionary<string, FeatureValue>(StringComparer.Ordinal)
            {
                [RankingFeatureCatalog.UserEventsTotal] = Number(events),
                [RankingFeatureCatalog.UserEngagementTotal] = Number(Math.Floor(events * random.NextDouble())),
                [RankingFeatureCatalog.UserLastEventMs] = Number(now.AddMinutes(-Math.Exp(2 + (3 * random.NextDouble()))).ToUnixTimeMilliseconds()),
                [RankingFeatureCatalog.UserRecentItems] = new FeatureValue(null, recent, null, false, false),
                [RankingFeatureCatalog.UserSessionItems] = new FeatureValue(null, session, null, false, false),
                [RankingFeatureCatalog.UserEmbedding] = FeatureValue.OfVector(taste.Select(x => x * 2f).ToArray(), null),
            };
            UserValues[u] = values;
            Users[u] = ToEntity(values);
        }

        ItemIndex = new Dictionary<string, int>(items, StringComparer.Ordinal);
        for (var i = 0; i < items; i++)
        {
            ItemIndex[ItemIds[i]] = i;
        }

        UserIndex = UserIds.Select((id, u) => (id, u)).ToDictionary(p => p.id, p => p.u, StringComparer.Ordinal);
    }

    public DateTimeOffset Now { get; }

    public int Dimensions { get; }

    public string[] ItemIds { get; }

    public string[] UserIds { get; }

    public EntityValues[] Items { get; }

    public EntityValues[] Users { get; }

    public Dictionary<string, FeatureValue>[] ItemValues { get; }

    public Dictionary<string, FeatureValue>[] UserValues { get; }

    public ItemMetadata[] Metadata { get; }

    public float[][] Embeddings { get; }

    public Dictionary<string, int> ItemIndex { get; }

    public Dictionary<string, int> UserIndex { get; }

    /// <summary>What the features of user <paramref name="user"/>'s rows are computed from (as the provider assembles them).</summary>
    public RankingRequestValues Request(int user)
    {
        var values = Users[user];
        var context = new Dictionary<string, EntityValues>(StringComparer.Ordinal);
        foreach (var id in (values.Ids(RankingFeatureCatalog.UserRecentItems) ?? []).Concat(values.Ids(RankingFeatureCatalog.UserSessionItems) ?? []))
        {
            context[id] = Items[ItemIndex[id]];
        }

        return new RankingRequestValues(values, context, Now.ToUnixTimeMilliseconds(), null);
    }

    /// <summary>Click probability of the planted model: taste, popularity and the share of recent items in the item's categories.</summary>
    public double ClickProbability(int user, int item, float recentCategoryMatch)
    {
        var taste = _userTastes[user];
        var direction = _itemDirections[item];
        double dot = 0;
        for (var k = 0; k < Dimensions; k++)
        {
            dot += taste[k] * direction[k];
        }

        var popularity = Math.Log(1 + (ItemValues[item][RankingFeatureCatalog.ItemPopularity].Number ?? 0));
        var logit = -3.2 + (4.0 * dot) + (0.25 * popularity) + (1.5 * recentCategoryMatch);
        return 1 / (1 + Math.Exp(-logit));
    }

    private static EntityValues ToEntity(Dictionary<string, FeatureValue> values)
    {
        var entity = new EntityValues();
        foreach (var (name, value) in values)
        {
            entity.Set(name, value);
        }

        return entity;
    }

    private static FeatureValue Number(double value) => new(value, null, null, false, false);

    // Skewed: a few categories are common (as genres are).
    private static string Category(Random random) =>
        "cat" + ((int)(Categories * Math.Pow(random.NextDouble(), 1.8))).ToString("00", CultureInfo.InvariantCulture);

    private static float[] Gaussian(Random random, int dimensions, double scale) =>
        [.. Enumerable.Range(0, dimensions).Select(_ => (float)(Normal(random) * scale))];

    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
