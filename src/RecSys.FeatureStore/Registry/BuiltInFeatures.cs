using RecSys.Core.Domain;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.Streaming;

namespace RecSys.FeatureStore.Registry;

/// <summary>The built-in feature definitions, one per feature, shared by serving and training.</summary>
public static class BuiltInFeatures
{
    private static readonly TimeSpan Month = TimeSpan.FromDays(30);

    public static IReadOnlyList<FeatureDefinition> All()
    {
        const string user = EntityKinds.User;
        const string item = EntityKinds.Item;
        const string creator = EntityKinds.Creator;
        var list = new List<FeatureDefinition>();

        // All-time counters (names kept from the first registry).
        list.Add(Count("user_events_total", user, FeatureFields.EventsTotal, [], null, "Events of the user, all types."));
        list.Add(Count("user_clicks_total", user, FeatureFields.ClicksTotal, [EventType.Click], null, "Clicks of the user."));
        list.Add(Count("user_impressions_total", user, FeatureFields.ImpressionsTotal, [EventType.Impression], null, "Impressions shown to the user."));
        list.Add(Count("user_views_total", user, FeatureFields.ViewsTotal, [EventType.View], null, "Views of the user."));
        list.Add(Sum("user_engagement_total", user, null, "Sum of the engagement weights of the user's events."));
        list.Add(new("user_last_event_ms", user, FeatureValueType.Number, new LatestEventTimeTransform(), null, null, 0, "Time (unix ms) of the user's latest event."));
        list.Add(Ctr("user_ctr", user, null, "Clicks per impression of the user."));
        list.Add(Count("item_events_total", item, FeatureFields.EventsTotal, [], null, "Events on the item, all types."));
        list.Add(Count("item_impressions_total", item, FeatureFields.ImpressionsTotal, [EventType.Impression], null, "Impressions of the item."));
        list.Add(Count("item_views_total", item, FeatureFields.ViewsTotal, [EventType.View], null, "Views of the item."));
        list.Add(Count("item_clicks_total", item, FeatureFields.ClicksTotal, [EventType.Click], null, "Clicks on the item."));
        list.Add(Sum("item_engagement_total", item, null, "Sum of the engagement weights of events on the item."));
        list.Add(Ctr("item_ctr", item, null, "Clicks per impression of the item."));

        // Windowed aggregates: exact sums of time buckets at read time.
        foreach (var window in FeatureWindow.All)
        {
            var w = window.Name;
            list.Add(Count($"user_views_{w}", user, FeatureFields.ViewsTotal, [EventType.View], window, $"Views of the user in the last {w}."));
            list.Add(Count($"user_clicks_{w}", user, FeatureFields.ClicksTotal, [EventType.Click], window, $"Clicks of the user in the last {w}."));
            list.Add(Count($"user_impressions_{w}", user, FeatureFields.ImpressionsTotal, [EventType.Impression], window, $"Impressions shown to the user in the last {w}."));
            list.Add(Sum($"user_engagement_{w}", user, window, $"Engagement of the user in the last {w}."));
            list.Add(Ctr($"user_ctr_{w}", user, window, $"Clicks per impression of the user in the last {w}."));
            list.Add(Count($"item_views_{w}", item, FeatureFields.ViewsTotal, [EventType.View], window, $"Views of the item in the last {w}."));
            list.Add(Count($"item_clicks_{w}", item, FeatureFields.ClicksTotal, [EventType.Click], window, $"Clicks on the item in the last {w}."));
            list.Add(Count($"item_impressions_{w}", item, FeatureFields.ImpressionsTotal, [EventType.Impression], window, $"Impressions of the item in the last {w}."));
            list.Add(Sum($"item_engagement_{w}", item, window, $"Engagement on the item in the last {w}."));
            list.Add(Ctr($"item_ctr_{w}", item, window, $"Clicks per impression of the item in the last {w}."));
            list.Add(Sum($"creator_engagement_{w}", creator, window, $"Engagement on the creator's items in the last {w}."));
        }

        list.Add(Sum("creator_engagement_total", creator, null, "Engagement on the creator's items."));
        list.Add(new("creator_engaged_total", creator, FeatureValueType.Number,
            new AggregateTransform(FeatureFields.EngagedTotal, [], EventAmount.One, null),
            null, Month, 0, "Events of positive engagement on the creator's items."));

        // Distributions and affinities.
        list.Add(new("user_category_distribution_7d", user, FeatureValueType.IdList, new DistributionTransform(ItemDimension.Category, FeatureWindow.SevenDays, 20),
            null, Month, null, "Shares of the user's engagement per item category over 7 days, as category=share, largest first."));
        list.Add(new("user_category_distribution_30d", user, FeatureValueType.IdList, new DistributionTransform(ItemDimension.Category, FeatureWindow.ThirtyDays, 20),
            null, Month, null, "Shares of the user's engagement per item category over 30 days, as category=share, largest first."));
        list.Add(new("user_top_categories", user, FeatureValueType.IdList, new TopAffinityTransform(ItemDimension.Category, 10),
            null, null, null, "The user's 10 categories of highest all-time engagement."));
        list.Add(new("user_top_creators", user, FeatureValueType.IdList, new TopAffinityTransform(ItemDimension.Creator, 10),
            null, null, null, "The user's 10 creators of highest all-time engagement (a follow adds 5)."));
        list.Add(new("user_followed_creators", user, FeatureValueType.IdList, new FollowsTransform(), null, null, null, "Creators the user follows."));

        // Recent and session items.
        list.Add(new("user_recent_items", user, FeatureValueType.IdList, new LastItemsTransform(OnlineKeys.RecentItemsKept, null),
            null, Month, null, "Items of the user's latest positive interactions, newest first."));
        list.Add(new("user_session_items", user, FeatureValueType.IdList, new LastItemsTransform(20, TimeSpan.FromMinutes(30)),
            null, null, null, "Items of the user's positive interactions in the last 30 minutes, newest first."));

        // Item popularity and attributes.
        list.Add(new("item_popularity", item, FeatureValueType.Number, new DecayedPopularityTransform(DecayedScore.HalfLife),
            null, null, 0, "Exponentially decayed engagement (half-life 3 days) as of now."));
        list.Add(new("item_categories", item, FeatureValueType.IdList, new ItemAttributeTransform(ItemFields.Categories), null, null, null, "Categories of the item."));

        // Embeddings: published by training, and the user's moved by every engagement since.
        list.Add(new("item_embedding", item, FeatureValueType.Vector, new StoredEmbeddingTransform(EmbeddingKind.Item),
            null, null, null, "The item's embedding, as published to the vector index."));
        list.Add(new("user_embedding", user, FeatureValueType.Vector, new StoredEmbeddingTransform(EmbeddingKind.UserBase),
            null, null, null, "The user's base embedding from the last training."));
        list.Add(new("user_embedding_ema", user, FeatureValueType.Vector, new EmaEmbeddingTransform(EmaEmbeddingTransform.DefaultAlpha),
            null, TimeSpan.FromDays(7), null,
            "The user's embedding moved towards each engaged item by 0.1 (exponential moving average) since the base embedding."));

        // User x item, at read time.
        list.Add(new("user_item_category_affinity", EntityKinds.UserItem, FeatureValueType.Number, new CrossAffinityTransform(ItemDimension.Category),
            null, null, 0, "Largest share of the user's all-time engagement spent on one of the item's categories."));
        list.Add(new("user_item_creator_affinity", EntityKinds.UserItem, FeatureValueType.Number, new CrossAffinityTransform(ItemDimension.Creator),
            null, null, 0, "The user's all-time engagement with the item's creator (a follow adds 5)."));
        return list;
    }

    private static FeatureDefinition Count(string name, string entity, string counter, EventType[] types, FeatureWindow? window, string description) =>
        new(name, entity, FeatureValueType.Number, new AggregateTransform(counter, types, EventAmount.One, window),
            window?.Length, window is null ? Month : window.Length, 0, description);

    private static FeatureDefinition Sum(string name, string entity, FeatureWindow? window, string description) =>
        new(name, entity, FeatureValueType.Number, new AggregateTransform(FeatureFields.EngagementTotal, [], EventAmount.Engagement, window),
            window?.Length, window is null ? Month : window.Length, 0, description);

    private static FeatureDefinition Ctr(string name, string entity, FeatureWindow? window, string description) =>
        new(name, entity, FeatureValueType.Number,
            new RatioTransform(
                new AggregateTransform(FeatureFields.ClicksTotal, [EventType.Click], EventAmount.One, window),
                new AggregateTransform(FeatureFields.ImpressionsTotal, [EventType.Impression], EventAmount.One, window)),
            window?.Length, window is null ? Month : window.Length, 0, description);
}
