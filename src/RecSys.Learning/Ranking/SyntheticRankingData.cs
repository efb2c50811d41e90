namespace RecSys.Learning.Ranking;

/// <summary>Sizes and seed of a synthetic ranking world.</summary>
public sealed record SyntheticRankingOptions
{
    public int Users { get; init; } = 2_000;

    public int Items { get; init; } = 5_000;

    public int Groups { get; init; } = 2_000;

    public int CandidatesPerGroup { get; init; } = 20;

    /// <summary>Dimension of the planted user and item latent vectors (and of the noisy embeddings given to the main ranker).</summary>
    public int EmbeddingDimension { get; init; } = 16;

    /// <summary>Standard deviation of the noise added to the latent vectors to form the "learned" embeddings.</summary>
    public float EmbeddingNoise { get; init; } = 0.3f;

    public int Seed { get; init; } = 1;

    public void Validate()
    {
        if (Users < 1 || Items < 2 || Groups < 1 || CandidatesPerGroup < 2 || EmbeddingDimension < 1)
        {
            throw new ArgumentException("Users, groups and embedding dimension must be >= 1; items and candidates per group >= 2.");
        }

        if (!float.IsFinite(EmbeddingNoise) || EmbeddingNoise < 0)
        {
            throw new ArgumentException($"EmbeddingNoise must be finite and >= 0 (got {EmbeddingNoise}).", nameof(EmbeddingNoise));
        }
    }
}

/// <summary>
/// A synthetic ranking world with planted structure, deterministic by seed. Users and items have latent vectors; the
/// click probability of a (request, candidate) row is sigmoid of a known nonlinear function of the true latent match
/// u.v, hidden user and item biases, and some of 30 cheap features (category affinity saturating through tanh and
/// boosted in search, a price penalty that is quadratic above a knee, a session-by-hour interaction, a position decay,
/// a last-category match). The cheap features see the latent match only through a noisy retrieval score; the main
/// ranker also gets noisy copies of the latent vectors (as learned embeddings would be) and their elementwise product.
/// Ten of the cheap features are pure noise.
/// </summary>
public static class SyntheticRankingData
{
    public const int Contexts = 3;
    public const int ActivityBuckets = 3;

    /// <summary>The ~30 cheap features, in column order (the pre-ranker's inputs).</summary>
    public static IReadOnlyList<string> CheapFeatureNames { get; } =
    [
        "item_popularity_log", "item_age_log", "item_price_log", "user_activity_log", "context_home", "context_search",
        "context_detail", "hour_sin", "hour_cos", "retrieval_position", "retrieval_score", "category_affinity",
        "session_length", "hours_since_last_visit", "item_ctr_estimate", "user_ctr_estimate", "item_rating_mean",
        "item_rating_count_log", "item_discounted", "same_category_as_last_click",
        "noise_0", "noise_1", "noise_2", "noise_3", "noise_4", "noise_5", "noise_6", "noise_7", "noise_8", "noise_9",
    ];

    private const int Categories = 8;

    /// <summary>Feature names of the main ranker: the cheap ones, then user embedding, item embedding and their product.</summary>
    public static IReadOnlyList<string> MainFeatureNames(int embeddingDimension) =>
    [
        .. CheapFeatureNames,
        .. Enumerable.Range(0, embeddingDimension).Select(k => $"user_emb_{k}"),
        .. Enumerable.Range(0, embeddingDimension).Select(k => $"item_emb_{k}"),
        .. Enumerable.Range(0, embeddingDimension).Select(k => $"user_x_item_{k}"),
    ];

    /// <summary>Generates the world's requests as a dataset with every main-ranker feature (select the cheap ones for the pre-ranker).</summary>
    public static RankingDataset Generate(SyntheticRankingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var rng = new Random(options.Seed);
        var d = options.EmbeddingDimension;
        var latentScale = 1.6f / MathF.Sqrt(d);

        var userLatent = Gaussians(rng, options.Users * d, latentScale);
        var itemLatent = Gaussians(rng, options.Items * d, latentScale);
        var userEmbedding = Noisy(rng, userLatent, options.EmbeddingNoise * latentScale);
        var itemEmbedding = Noisy(rng, itemLatent, options.EmbeddingNoise * latentScale);
        var userBias = Gaussians(rng, options.Users, 0.5f);
        var userActivity = new float[options.Users];
        var userAffinity = new float[options.Users * Categories];
        for (var u = 0; u < options.Users; u++)
        {
            userActivity[u] = (float)Math.Exp(1.5 + (1.2 * Gaussian(rng)));
            for (var c = 0; c < Categories; c++)
            {
                userAffinity[(u * Categories) + c] = (float)rng.NextDouble();
            }
        }

        var itemBias = Gaussians(rng, options.Items, 0.5f);
        var itemPopularity = new float[options.Items];
        var itemAge = new float[options.Items];
        var itemPrice = new float[options.Items];
        var itemCategory = new int[options.Items];
        var itemRating = new float[options.Items];
        var itemDiscounted = new bool[options.Items];
        for (var i = 0; i < options.Items; i++)
        {
            // Popularity follows the hidden bias loosely (popular items are clicked more), plus a Zipf-like tail.
            itemPopularity[i] = (float)(Math.Log(1 + (1000.0 / (1 + (i % 997)))) + (0.5 * itemBias[i]) + (0.3 * Gaussian(rng)));
            itemAge[i] = (float)Math.Log(1 + (rng.NextDouble() * 365));
            itemPrice[i] = (float)(2 + (1.2 * Gaussian(rng)));
            itemCategory[i] = rng.Next(Categories);
            itemRating[i] = (float)Math.Clamp(3.5 + (0.8 * itemBias[i]) + (0.4 * Gaussian(rng)), 1, 5);
            itemDiscounted[i] = rng.NextDouble() < 0.2;
        }

        var names = MainFeatureNames(d);
        var f = names.Count;
        var g = options.CandidatesPerGroup;
        var rows = options.Groups * g;
        var features = new float[rows * f];
        var labels = new float[rows];
        var weights = new float[rows];
        var groupIds = new int[rows];
        var segments = new SegmentKey[rows];
        var candidateScores = new float[g];
        var candidates = new int[g];
        var order = new int[g];
        for (var q = 0; q < options.Groups; q++)
        {
            var u = rng.Next(options.Users);
            var context = rng.Next(Contexts);
            var hour = rng.NextDouble() * 24;
            var session = (float)Math.Log(1 + (rng.NextDouble() * 30));
            var sinceLastVisit = (float)Math.Log(1 + (rng.NextDouble() * 200));
            var lastCategory = rng.Next(Categories);
            var activity = userActivity[u];
            var bucket = activity < 3 ? 0 : activity < 12 ? 1 : 2;
            // Recency weight: later requests count more (the specification's recency weighting), in [0.5, 1].
            var recencyWeight = 0.5f + (0.5f * q / Math.Max(1, options.Groups - 1));

            // Candidates as retrieval would give them: a noisy latent match decides the retrieval order.
            for (var k = 0; k < g; k++)
            {
                candidates[k] = rng.Next(options.Items);
                candidateScores[k] = Dot(userLatent, u, itemLatent, candidates[k], d) + (0.5f * (float)Gaussian(rng));
                order[k] = k;
            }

            Array.Sort(candidateScores, order);
            for (var k = 0; k < g; k++)
            {
                var position = g - 1 - k; // ascending sort: the best is last
                var i = candidates[order[k]];
                var row = (q * g) + position;
                var x = features.AsSpan(row * f, f);
                var affinity = userAffinity[(u * Categories) + itemCategory[i]];
                x[0] = itemPopularity[i];
                x[1] = itemAge[i];
                x[2] = itemPrice[i];
                x[3] = MathF.Log(1 + activity);
                x[4] = context == 0 ? 1 : 0;
                x[5] = context == 1 ? 1 : 0;
                x[6] = context == 2 ? 1 : 0;
                x[7] = (float)Math.Sin(hour / 24 * 2 * Math.PI);
                x[8] = (float)Math.Cos(hour / 24 * 2 * Math.PI);
                x[9] = (float)position / g;
                x[10] = candidateScores[k];
                x[11] = affinity + (0.1f * (float)Gaussian(rng));
                x[12] = session;
                x[13] = sinceLastVisit;
                x[14] = (0.1f * itemBias[i]) + 0.1f + (0.05f * (float)Gaussian(rng));
                x[15] = (0.1f * userBias[u]) + 0.1f + (0.05f * (float)Gaussian(rng));
                x[16] = itemRating[i];
                x[17] = (float)Math.Log(1 + Math.Exp(itemPopularity[i]));
                x[18] = itemDiscounted[i] ? 1 : 0;
                x[19] = itemCategory[i] == lastCategory ? 1 : 0;
                for (var n = 20; n < 30; n++)
                {
                    // Noise, a few of them correlated with informative columns so that they are not trivially ignorable.
                    x[n] = n < 23 ? x[n - 20] + (float)Gaussian(rng) : (float)Gaussian(rng);
                }

                var ue = userEmbedding.AsSpan(u * d, d);
                var ie = itemEmbedding.AsSpan(i * d, d);
                ue.CopyTo(x.Slice(30, d));
                ie.CopyTo(x.Slice(30 + d, d));
                for (var e = 0; e < d; e++)
                {
                    x[30 + (2 * d) + e] = ue[e] * ie[e];
                }

                var match = Dot(userLatent, u, itemLatent, i, d);
                var logit = -2.2
                    + (1.6 * match)
                    + (0.8 * itemBias[i]) + (0.5 * userBias[u])
                    + (0.9 * Math.Tanh(3 * (affinity - 0.5)) * (context == 1 ? 1.6 : 1.0))
                    - (0.35 * Math.Pow(Math.Max(0, itemPrice[i] - 2.5), 2))
                    + (0.4 * Math.Sin(hour / 24 * 2 * Math.PI) * session)
                    - (0.8 * position / g)
                    + (itemCategory[i] == lastCategory ? 0.5 : 0)
                    + (itemDiscounted[i] && context == 0 ? 0.4 : 0);
                labels[row] = rng.NextDouble() < 1 / (1 + Math.Exp(-logit)) ? 1 : 0;
                weights[row] = recencyWeight;
                groupIds[row] = q;
                segments[row] = new SegmentKey(context, bucket);
            }
        }

        return new RankingDataset(names, features, labels, weights, groupIds, segments);
    }

    private static float Dot(float[] a, int ra, float[] b, int rb, int d)
    {
        var s = 0f;
        for (var k = 0; k < d; k++)
        {
            s += a[(ra * d) + k] * b[(rb * d) + k];
        }

        return s;
    }

    private static double Gaussian(Random rng)
    {
        // Box-Muller; 1 - U keeps the logarithm's argument in (0, 1].
        var u1 = 1.0 - rng.NextDouble();
        var u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    private static float[] Gaussians(Random rng, int count, float scale)
    {
        var values = new float[count];
        for (var i = 0; i < count; i++)
        {
            values[i] = scale * (float)Gaussian(rng);
        }

        return values;
    }

    private static float[] Noisy(Random rng, float[] source, float scale)
    {
        var values = new float[source.Length];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = source[i] + (scale * (float)Gaussian(rng));
        }

        return values;
    }
}
