namespace RecSys.Ranking.Features;

/// <summary>Which models a ranking feature feeds: the cheap ones feed the pre-ranker and the main ranker, the others only the main ranker.</summary>
public enum RankingFeatureCost
{
    Cheap,
    Main,
}

/// <summary>
/// One ranking feature: a pure function of feature-store values (registry features by name) of the user, the candidate and the
/// user's recent/session items, at the request time. Returns null when an input it needs is missing: the row then takes
/// <see cref="Default"/> and the value is counted as defaulted.
/// </summary>
public sealed record RankingFeature(string Name, RankingFeatureCost Cost, float Default, string Description, Func<RequestSide, EntityValues, float?> Compute)
{
    /// <summary>
    /// For a feature of the candidate's values alone (no user side), its slot among <see cref="RankingFeatureCatalog.ItemOnly"/>,
    /// where an item's precomputed value is kept (<see cref="EntityValues.PrecomputeItemFeatures"/>); -1 for the others.
    /// </summary>
    public int ItemSlot { get; init; } = -1;
}

/// <summary>
/// The ranker's features, defined once: the Trainer's offline assembly and the online provider both compute rows through
/// <see cref="RankingRowComputer"/> over this catalog, so that a name means one computation in training and serving. Base values
/// are the registry's (src/RecSys.FeatureStore/Registry/BuiltInFeatures.cs); everything here is derived from them.
/// </summary>
public static class RankingFeatureCatalog
{
    // Registry features the catalog reads.
    public const string UserEventsTotal = "user_events_total";
    public const string UserEngagementTotal = "user_engagement_total";
    public const string UserLastEventMs = "user_last_event_ms";
    public const string UserRecentItems = "user_recent_items";
    public const string UserSessionItems = "user_session_items";
    public const string UserEmbedding = "user_embedding";
    public const string ItemEventsTotal = "item_events_total";
    public const string ItemEngagementTotal = "item_engagement_total";
    public const string ItemEngagement7d = "item_engagement_7d";
    public const string ItemEngagement30d = "item_engagement_30d";
    public const string ItemPopularity = "item_popularity";
    public const string ItemCategories = "item_categories";
    public const string ItemEmbedding = "item_embedding";

    /// <summary>Recent items whose embeddings the similarity features compare with (the newest first).</summary>
    public const int RecentItemsCompared = 20;

    /// <summary>Cap of the days-since features, so that years-old data stays in range.</summary>
    public const float MaxDays = 365f;

    private const double DayMs = 86_400_000d;

    /// <summary>Registry features read for the user.</summary>
    public static IReadOnlyList<string> UserFeatures { get; } =
        [UserEventsTotal, UserEngagementTotal, UserLastEventMs, UserRecentItems, UserSessionItems, UserEmbedding];

    /// <summary>Registry features read for each candidate.</summary>
    public static IReadOnlyList<string> ItemFeatures { get; } =
        [ItemEventsTotal, ItemEngagementTotal, ItemEngagement7d, ItemEngagement30d, ItemPopularity, ItemCategories, ItemEmbedding];

    /// <summary>Registry features read for each recent or session item of the user.</summary>
    public static IReadOnlyList<string> ContextItemFeatures { get; } = [ItemPopularity, ItemCategories, ItemEmbedding];

    public static IReadOnlyList<RankingFeature> All { get; } = Build();

    /// <summary>The features that read only the candidate's own values, in slot order (<see cref="RankingFeature.ItemSlot"/>).</summary>
    public static IReadOnlyList<RankingFeature> ItemOnly { get; } = [.. All.Where(f => f.ItemSlot >= 0).OrderBy(f => f.ItemSlot)];

    public static IReadOnlyList<string> Names { get; } = [.. All.Select(f => f.Name)];

    /// <summary>The pre-ranker's columns: the cheap features.</summary>
    public static IReadOnlyList<string> CheapNames { get; } = [.. All.Where(f => f.Cost == RankingFeatureCost.Cheap).Select(f => f.Name)];

    private static readonly Dictionary<string, RankingFeature> ByName = All.ToDictionary(f => f.Name, StringComparer.Ordinal);

    public static bool TryGet(string name, out RankingFeature feature) => ByName.TryGetValue(name, out feature!);

    /// <summary>The features of <paramref name="names"/> in order; an unknown name is an <see cref="ArgumentException"/>.</summary>
    public static RankingFeature[] Resolve(IReadOnlyList<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        var resolved = new RankingFeature[names.Count];
        for (var i = 0; i < names.Count; i++)
        {
            if (!TryGet(names[i], out resolved[i]))
            {
                throw new ArgumentException($"Unknown ranking feature '{names[i]}'; known: {string.Join(", ", Names)}.", nameof(names));
            }
        }

        return resolved;
    }

    private static List<RankingFeature> Build()
    {
        // Features of the candidate's values alone: an item's value is the same in every request (precomputed per item).
        HashSet<string> itemOnly =
        [
            "item_log_events", "item_log_engagement", "item_log_engagement_7d", "item_log_engagement_30d", "item_log_popularity",
            "item_trend_7d_30d", "item_engagement_per_event", "item_category_count", "item_embedding_norm",
        ];
        var slot = 0;
        return [.. Define().Select(f => itemOnly.Contains(f.Name) ? f with { ItemSlot = slot++ } : f)];
    }

    private static List<RankingFeature> Define()
    {
        const RankingFeatureCost cheap = RankingFeatureCost.Cheap;
        const RankingFeatureCost main = RankingFeatureCost.Main;
        return
        [
            // User activity.
            new("user_log_events", cheap, 0, "log(1 + events of the user)", (u, _) => u.LogEvents),
            new("user_log_engagement", cheap, 0, "log(1 + engagement of the user)", (u, _) => u.LogEngagement),
            new("user_log_days_since_last_event", cheap, MathF.Log(1 + MaxDays), "log(1 + days from the user's latest event to the request), days capped at 365", (u, _) =>
                u.DaysSinceLastEvent is { } days ? MathF.Log(1 + days) : null),

            // Item popularity and recency.
            new("item_log_events", cheap, 0, "log(1 + events on the item)", (_, i) => Log1p(i, ItemEventsTotal)),
            new("item_log_engagement", cheap, 0, "log(1 + engagement on the item)", (_, i) => Log1p(i, ItemEngagementTotal)),
            new("item_log_engagement_7d", cheap, 0, "log(1 + engagement on the item over 7 days)", (_, i) => Log1p(i, ItemEngagement7d)),
            new("item_log_engagement_30d", cheap, 0, "log(1 + engagement on the item over 30 days)", (_, i) => Log1p(i, ItemEngagement30d)),
            new("item_log_popularity", cheap, 0, "log(1 + decayed popularity, half-life 3 days)", (_, i) => Log1p(i, ItemPopularity)),
            new("item_trend_7d_30d", cheap, 0, "Engagement over 7 days / (engagement over 30 days + 1)", (_, i) =>
                i.TryNumber(ItemEngagement7d, out var w7) && i.TryNumber(ItemEngagement30d, out var w30) ? (float)(w7 / (w30 + 1)) : null),
            new("item_engagement_per_event", cheap, 0, "Engagement per event on the item (how well it is liked when consumed)", (_, i) =>
                i.TryNumber(ItemEngagementTotal, out var e) && i.TryNumber(ItemEventsTotal, out var n) ? (float)(e / (n + 1)) : null),
            new("item_category_count", cheap, 0, "Number of categories of the item", (_, i) => i.Ids(ItemCategories)?.Count),

            // Collaborative signal: the published ALS embeddings.
            new("als_score", cheap, 0, "Dot product of the user's and the item's embeddings", (u, i) => u.Dot(i)),
            new("als_cosine", cheap, 0, "Cosine of the user's and the item's embeddings", (u, i) => u.Cosine(i)),
            new("item_embedding_norm", cheap, 0, "Norm of the item's embedding (popular items have larger ones)", (_, i) =>
                i.Vector(ItemEmbedding) is { } v ? i.VectorNorm(ItemEmbedding, v) : null),
            new("user_embedding_norm", cheap, 0, "Norm of the user's embedding", (u, _) => u.UserNorm),

            // Affinity with what the user consumed lately.
            new("recent_category_match", cheap, 0, "Share of the user's recent items sharing a category with the item", (u, i) => u.RecentCategoryMatch(i)),
            new("recent_similarity_mean", cheap, 0, "Cosine of the item's embedding with the mean of the recent items' (unit) embeddings", (u, i) => u.RecentMeanSimilarity(i)),
            new("recent_similarity_max", main, 0, $"Largest cosine of the item's embedding with one of the {RecentItemsCompared} latest items'", (u, i) => u.RecentMaxSimilarity(i)),
            new("recent_similarity_top3", main, 0, "Mean of the 3 largest cosines with the latest items' embeddings", (u, i) => u.RecentTopSimilarity(i, 3)),
            new("recent_item_log_count", cheap, 0, "log(1 + number of the user's recent items)", (u, _) => u.RecentCount is { } n ? MathF.Log(1 + n) : null),

            // Session fast lane (the last 30 minutes).
            new("session_interaction_count", cheap, 0, "Positive interactions of the user in the last 30 minutes", (u, _) => u.SessionCount),
            new("session_category_match", main, 0, "Share of the session's items sharing a category with the item", (u, i) => u.SessionCategoryMatch(i)),
            new("session_avg_log_popularity", main, 0, "Mean log(1 + popularity) of the session's items", (u, _) => u.SessionMeanLogPopularity),
            new("session_popularity_gap", main, 0, "Item's log popularity minus the session items' mean", (u, i) =>
                u.SessionMeanLogPopularity is { } s ? Log1p(i, ItemPopularity) - s : null),
            new("session_similarity_mean", main, 0, "Cosine of the item's embedding with the mean of the session items' embeddings", (u, i) => u.SessionMeanSimilarity(i)),

            // Interactions of user activity with item popularity (help a small ranker).
            new("popularity_x_user_activity", main, 0, "item_log_engagement x user_log_events", (u, i) =>
                u.LogEvents is { } a && Log1p(i, ItemEngagementTotal) is { } b ? a * b : null),
            new("als_score_x_user_activity", main, 0, "als_score x user_log_events", (u, i) =>
                u.Dot(i) is { } a && u.LogEvents is { } b ? a * b : null),

            // The embeddings as inputs: the terms of als_score, so the main ranker can reweight the ALS dimensions.
            .. EmbeddingProducts(),
        ];
    }

    /// <summary>Per-dimension products the catalog defines (the ALS default dimension); a shorter embedding leaves the rest at 0.</summary>
    public const int EmbeddingProductDimensions = 64;

    /// <summary>The name of the product of the user's and the item's embedding coordinate <paramref name="dimension"/>.</summary>
    public static string EmbeddingProductName(int dimension) => $"als_product_{dimension:00}";

    private static IEnumerable<RankingFeature> EmbeddingProducts() =>
        Enumerable.Range(0, EmbeddingProductDimensions).Select(k => new RankingFeature(EmbeddingProductName(k), RankingFeatureCost.Main, 0,
            $"User embedding coordinate {k} x item embedding coordinate {k} (ALS factors in their principal-axes basis)", (u, i) => u.EmbeddingProduct(i, k)));

    internal static float? Log1p(EntityValues values, string feature) =>
        values.TryNumber(feature, out var v) ? (float)Math.Log(1 + Math.Max(0, v)) : null;

    internal static float Days(long fromMs, long toMs) => (float)Math.Clamp((toMs - fromMs) / DayMs, 0, MaxDays);
}
