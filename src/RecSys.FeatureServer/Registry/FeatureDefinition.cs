using RecSys.Core.Storage;
using RecSys.FeatureServer.Streaming;

namespace RecSys.FeatureServer.Registry;

/// <summary>Value types of served features.</summary>
public enum FeatureValueType
{
    Number,
    IdList,
}

/// <summary>Where a feature's value comes from in the online store.</summary>
public abstract record FeatureSource
{
    /// <summary>A human-readable description of the source, as served by <c>/v1/registry</c>.</summary>
    public abstract string Describe(string entityKind);
}

/// <summary>A counter field of the entity's feature hash (<see cref="OnlineKeys.Features"/>), its time in <c>field@t</c>.</summary>
public sealed record CounterSource(string Field) : FeatureSource
{
    public override string Describe(string entityKind) => $"HGET {OnlineKeys.Features(entityKind, "{id}")} {Field}";
}

/// <summary>The ratio of two counter fields; the default when the denominator is 0 or absent.</summary>
public sealed record RatioSource(string Numerator, string Denominator) : FeatureSource
{
    public override string Describe(string entityKind) =>
        $"{Numerator} / {Denominator} of {OnlineKeys.Features(entityKind, "{id}")}";
}

/// <summary>The item's decayed popularity now: its <see cref="OnlineKeys.Trending"/> score scaled from the epoch to now.</summary>
public sealed record DecayedPopularitySource : FeatureSource
{
    public override string Describe(string entityKind) =>
        $"ZSCORE {OnlineKeys.Trending} {{id}} * 2^((epoch - now) / {DecayedScore.HalfLife.TotalDays:0.#}d)";
}

/// <summary>The highest-scored members of a sorted set keyed by the entity id; the time is the top score when <paramref name="ScoreIsTime"/>.</summary>
public sealed record TopMembersSource(Func<string, string> Key, int Count, bool ScoreIsTime) : FeatureSource
{
    public override string Describe(string entityKind) => $"ZREVRANGE {Key("{id}")} 0 {Count - 1}";
}

/// <summary>All members of a set keyed by the entity id.</summary>
public sealed record SetMembersSource(Func<string, string> Key) : FeatureSource
{
    public override string Describe(string entityKind) => $"SMEMBERS {Key("{id}")}";
}

/// <summary>A list field of the item hash (<see cref="OnlineKeys.Item"/>), split on <see cref="ItemFields.ListSeparator"/>.</summary>
public sealed record ItemListFieldSource(string Field) : FeatureSource
{
    public override string Describe(string entityKind) => $"HGET {OnlineKeys.Item("{id}")} {Field} split on '{ItemFields.ListSeparator}'";
}

/// <summary>One feature: the single definition used for serving (and, later, for training).</summary>
public sealed record FeatureDefinition(
    string Name,
    string EntityKind,
    FeatureValueType ValueType,
    double? DefaultNumber,
    string Description,
    FeatureSource Source)
{
    public IReadOnlyList<string>? DefaultIds => ValueType == FeatureValueType.IdList ? [] : null;
}

/// <summary>A registry entry on the wire.</summary>
public sealed record FeatureDefinitionDto(
    string Name,
    string Entity,
    FeatureValueType ValueType,
    double? Default,
    string Description,
    string Source);

/// <summary>The features this server knows, in code.</summary>
public sealed class FeatureRegistry
{
    private readonly Dictionary<string, FeatureDefinition> _byName;

    public FeatureRegistry()
        : this(DefaultDefinitions())
    {
    }

    public FeatureRegistry(IEnumerable<FeatureDefinition> definitions)
    {
        Definitions = [.. definitions];
        _byName = Definitions.ToDictionary(d => d.Name, StringComparer.Ordinal);
    }

    public IReadOnlyList<FeatureDefinition> Definitions { get; }

    public bool TryGet(string name, out FeatureDefinition definition) => _byName.TryGetValue(name, out definition!);

    public IReadOnlyList<FeatureDefinitionDto> Describe() =>
        [.. Definitions.Select(d => new FeatureDefinitionDto(d.Name, d.EntityKind, d.ValueType, d.DefaultNumber, d.Description, d.Source.Describe(d.EntityKind)))];

    public static IReadOnlyList<FeatureDefinition> DefaultDefinitions()
    {
        const string user = EntityKinds.User;
        const string item = EntityKinds.Item;
        return
        [
            new("user_events_total", user, FeatureValueType.Number, 0, "Events of the user, all types.", new CounterSource(FeatureFields.EventsTotal)),
            new("user_clicks_total", user, FeatureValueType.Number, 0, "Clicks of the user.", new CounterSource(FeatureFields.ClicksTotal)),
            new("user_impressions_total", user, FeatureValueType.Number, 0, "Impressions shown to the user.", new CounterSource(FeatureFields.ImpressionsTotal)),
            new("user_engagement_total", user, FeatureValueType.Number, 0, "Sum of the engagement weights of the user's events.", new CounterSource(FeatureFields.EngagementTotal)),
            new("user_last_event_ms", user, FeatureValueType.Number, 0, "Time (unix ms) of the user's latest event.", new CounterSource(FeatureFields.LastEventMs)),
            new("user_ctr", user, FeatureValueType.Number, 0, "Clicks per impression of the user.", new RatioSource(FeatureFields.ClicksTotal, FeatureFields.ImpressionsTotal)),
            new("user_recent_items", user, FeatureValueType.IdList, null, "Items of the user's latest positive interactions, newest first.", new TopMembersSource(OnlineKeys.UserRecent, OnlineKeys.RecentItemsKept, ScoreIsTime: true)),
            new("user_followed_creators", user, FeatureValueType.IdList, null, "Creators the user follows.", new SetMembersSource(OnlineKeys.UserFollows)),
            new("user_top_categories", user, FeatureValueType.IdList, null, "The user's 10 categories of highest engagement.", new TopMembersSource(OnlineKeys.UserCategoryAffinity, 10, ScoreIsTime: false)),
            new("user_top_creators", user, FeatureValueType.IdList, null, "The user's 10 creators of highest engagement.", new TopMembersSource(OnlineKeys.UserCreatorAffinity, 10, ScoreIsTime: false)),
            new("item_events_total", item, FeatureValueType.Number, 0, "Events on the item, all types.", new CounterSource(FeatureFields.EventsTotal)),
            new("item_impressions_total", item, FeatureValueType.Number, 0, "Impressions of the item.", new CounterSource(FeatureFields.ImpressionsTotal)),
            new("item_views_total", item, FeatureValueType.Number, 0, "Views of the item.", new CounterSource(FeatureFields.ViewsTotal)),
            new("item_clicks_total", item, FeatureValueType.Number, 0, "Clicks on the item.", new CounterSource(FeatureFields.ClicksTotal)),
            new("item_engagement_total", item, FeatureValueType.Number, 0, "Sum of the engagement weights of events on the item.", new CounterSource(FeatureFields.EngagementTotal)),
            new("item_ctr", item, FeatureValueType.Number, 0, "Clicks per impression of the item.", new RatioSource(FeatureFields.ClicksTotal, FeatureFields.ImpressionsTotal)),
            new("item_popularity", item, FeatureValueType.Number, 0, "Exponentially decayed engagement (half-life 3 days) as of now.", new DecayedPopularitySource()),
            new("item_categories", item, FeatureValueType.IdList, null, "Categories of the item.", new ItemListFieldSource(ItemFields.Categories)),
        ];
    }
}
