using RecSys.FeatureStore.Serving;
using RecSys.Learning.Ranking;
using RecSys.Ranking.Models;
using StackExchange.Redis;

namespace RecSys.Ranking.Tests.Rollout.Simulation;

/// <summary>
/// A generated world for rollouts through the Ranking service. Each user has a planted taste (a unit vector) and each item a
/// unit direction and a norm; the published embeddings are the taste and norm × direction, so the store's features
/// <c>als_cosine</c> (taste · direction) and <c>item_embedding_norm</c> (the norm) reach the rankers through the real feature
/// provider. The true affinity is √d · taste · direction (≈ N(0, 1)); a user clicks a shown item with probability
/// sigmoid(<see cref="ClickBias"/> + <see cref="ClickSlope"/> · affinity). The norm is 10 + N(0, 1) and unrelated to taste:
/// a model that weighs it instead of the cosine ranks worse.
/// </summary>
public sealed class PipelineWorld
{
    public const int Dimensions = 64;
    public const double ClickBias = -2.0;
    public const double ClickSlope = 1.0;
    public const double MeanNorm = 10.0;
    public const string EmbeddingVersion = "world";

    private readonly float[][] _tastes;
    private readonly float[][] _directions;
    private readonly float[] _norms;

    public PipelineWorld(int users, int items, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(users, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(items, 1);
        var random = new Random(seed);
        _tastes = [.. Enumerable.Range(0, users).Select(_ => UnitVector(random))];
        _directions = [.. Enumerable.Range(0, items).Select(_ => UnitVector(random))];
        // Normal quantiles dealt out in random order: over the catalog the norms are as normal as n values can be. Drawn at
        // random instead, one catalog's sample of norms would be a KS-visible distance from N(0, 1) (D ≈ 0.03 at 1,000 items),
        // and a model ranking by the norm would serve a shifted score distribution.
        var ranks = Enumerable.Range(0, items).ToArray();
        random.Shuffle(ranks);
        _norms = [.. ranks.Select(k => (float)(MeanNorm + NormalQuantile((k + 0.5) / items)))];
    }

    public int Users => _tastes.Length;

    public int Items => _directions.Length;

    public static string UserId(int user) => "u" + user.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static string ItemId(int item) => "i" + item.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static int ItemIndex(string itemId) => int.Parse(itemId.AsSpan(1), System.Globalization.CultureInfo.InvariantCulture);

    public static int UserIndex(string userId) => int.Parse(userId.AsSpan(1), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>√d · taste · direction: the planted affinity, about N(0, 1) over random pairs.</summary>
    public double Affinity(int user, int item)
    {
        var taste = _tastes[user];
        var direction = _directions[item];
        var dot = 0.0;
        for (var k = 0; k < Dimensions; k++)
        {
            dot += taste[k] * direction[k];
        }

        return Math.Sqrt(Dimensions) * dot;
    }

    public double ClickProbability(int user, int item) => 1 / (1 + Math.Exp(-(ClickBias + (ClickSlope * Affinity(user, item)))));

    /// <summary>Publishes the embeddings (users: the taste; items: norm × direction) as the store's active embedding version.</summary>
    public async Task PublishAsync(IConnectionMultiplexer redis, CancellationToken cancellationToken)
    {
        var embeddings = new EmbeddingStore(redis);
        await embeddings.CreateVersionAsync(EmbeddingVersion, Dimensions, cancellationToken);
        await embeddings.SetUsersAsync(EmbeddingVersion, [.. _tastes.Select((t, u) => (UserId(u), t))], cancellationToken);
        await embeddings.SetItemsAsync(EmbeddingVersion, [.. _directions.Select((d, i) => (ItemId(i), d.Select(x => x * _norms[i]).ToArray()))], cancellationToken);
        await embeddings.ActivateAsync(EmbeddingVersion, cancellationToken);
    }

    private static float[] UnitVector(Random random)
    {
        var v = new float[Dimensions];
        var norm = 0.0;
        for (var k = 0; k < Dimensions; k++)
        {
            v[k] = (float)Gaussian(random);
            norm += v[k] * v[k];
        }

        var scale = (float)(1 / Math.Sqrt(norm));
        for (var k = 0; k < Dimensions; k++)
        {
            v[k] *= scale;
        }

        return v;
    }

    /// <summary>Φ⁻¹(p) by Acklam's rational approximation (relative error below 1.2e-9).</summary>
    internal static double NormalQuantile(double p)
    {
        const double low = 0.02425;
        if (p < low)
        {
            var q = Math.Sqrt(-2 * Math.Log(p));
            return Tail(q);
        }

        if (p > 1 - low)
        {
            var q = Math.Sqrt(-2 * Math.Log(1 - p));
            return -Tail(q);
        }

        var c = p - 0.5;
        var r = c * c;
        return (((((-3.969683028665376e+01 * r + 2.209460984245205e+02) * r - 2.759285104469687e+02) * r + 1.383577518672690e+02) * r - 3.066479806614716e+01) * r + 2.506628277459239e+00) * c
            / (((((-5.447609879822406e+01 * r + 1.615858368580409e+02) * r - 1.556989798598866e+02) * r + 6.680131188771972e+01) * r - 1.328068155288572e+01) * r + 1);

        static double Tail(double q) =>
            (((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q - 2.400758277161838e+00) * q - 2.549732539343734e+00) * q + 4.374664141464968e+00) * q + 2.938163982698783e+00)
            / ((((7.784695709041462e-03 * q + 3.224671290700398e-01) * q + 2.445134137142996e+00) * q + 3.754408661907416e+00) * q + 1);
    }

    internal static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}

/// <summary>
/// A ranker for the world: logit = <see cref="Scale"/> · (cos θ · √d · als_cosine + sin θ · (item_embedding_norm − 10)) +
/// <see cref="Bias"/>, a one-layer MLP exported to ONNX. θ (<see cref="TasteAngleDegrees"/>) says how far the model is from
/// the planted tastes: 0° ranks by true affinity, 90° by the unrelated norm. Both inputs are about N(0, 1) and independent,
/// so every θ gives the same logit distribution: the KS gate sees no shift, and only the CTR tells the models apart.
/// </summary>
public sealed record WorldModel(double TasteAngleDegrees, double Scale = 1.0, double Bias = -1.0)
{
    public static readonly string[] Features = ["als_cosine", "item_embedding_norm"];

    /// <summary>Writes a ranker release (pre-ranker and main ranker, each a model folder with its manifest) to <paramref name="directory"/>.</summary>
    public void Write(string directory, string version, DateTimeOffset createdAt)
    {
        var theta = TasteAngleDegrees * Math.PI / 180;
        var taste = (float)(Scale * Math.Cos(theta) * Math.Sqrt(PipelineWorld.Dimensions));
        var norm = (float)(Scale * Math.Sin(theta));
        var main = new MlpModel(Features, [2, 1], [[taste, norm]], [[(float)(Bias - (Scale * Math.Sin(theta) * PipelineWorld.MeanNorm))]]);
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal) { ["taste_angle_degrees"] = TasteAngleDegrees };
        ModelPackage.WriteMlp(Path.Combine(directory, ModelKinds.MainRanker), main, ModelKinds.MainRanker, $"{version}-main", createdAt, [1.0, 1.0], metrics);
        // The simulation keeps every candidate through the pre-ranker (PreRankKeep = candidates), so one split is enough.
        var trees = new GbdtModel(["als_cosine"], [new GbdtTree([0], [0.0], [~0], [~1], [0.0, 0.1])], [1.0], "one split on als_cosine");
        ModelPackage.WriteTrees(Path.Combine(directory, ModelKinds.PreRanker), trees, ModelKinds.PreRanker, $"{version}-pre", createdAt, metrics);
    }
}
