using RecSys.Core.Domain;
using RecSys.FeatureStore.Registry;
using RecSys.FeatureStore.Streaming;

namespace RecSys.FeatureStore.OfflineStore;

/// <summary>
/// A feature the offline store holds as rows: an all-time <see cref="AggregateTransform"/> (a counter of the entity's
/// feature hash) or a <see cref="LatestEventTimeTransform"/>, evaluated from events exactly as its definition says.
/// </summary>
public sealed class StoredFeature
{
    private readonly HashSet<EventType>? _types;

    internal StoredFeature(FeatureDefinition definition)
    {
        Definition = definition;
        switch (definition.Transform)
        {
            case AggregateTransform { Window: null } aggregate:
                Field = aggregate.Counter;
                Amount = aggregate.Amount;
                _types = aggregate.EventTypes.Count == 0 ? null : [.. aggregate.EventTypes];
                break;
            case LatestEventTimeTransform:
                Field = FeatureFields.LastEventMs;
                IsLatestTime = true;
                break;
            default:
                throw new ArgumentException($"Feature '{definition.Name}' is not stored offline.", nameof(definition));
        }
    }

    public FeatureDefinition Definition { get; }

    public string Name => Definition.Name;

    public string EntityKind => Definition.EntityKind;

    /// <summary>The field of the online feature hash that holds the same value (<c>field@t</c> its event time).</summary>
    public string Field { get; }

    public EventAmount Amount { get; }

    /// <summary>True when the value is the latest event time rather than a sum.</summary>
    public bool IsLatestTime { get; }

    /// <summary>
    /// What <paramref name="e"/> adds to this feature of its entity (<see cref="EntityOf"/>): 0 when it does not count.
    /// For a latest-time feature any counted event gives 1 (the value is then its time).
    /// </summary>
    public double AmountOf(InteractionEvent e)
    {
        if (_types is not null && !_types.Contains(e.Type))
        {
            return 0;
        }

        if (Amount == EventAmount.Engagement && !IsLatestTime)
        {
            var weight = EventTypes.EngagementWeight(e.Type, e.Value);
            return weight > 0 ? weight : 0;
        }

        return 1;
    }

    /// <summary>
    /// The entity of this feature's kind that <paramref name="e"/> belongs to, null when none: its user, its item, or for
    /// creators the item's creator as known when the event was applied (<paramref name="itemCreator"/>, else the event's),
    /// counting only events of positive engagement.
    /// </summary>
    public string? EntityOf(InteractionEvent e, string? itemCreator) => EntityKind switch
    {
        EntityKinds.User => e.UserId,
        EntityKinds.Item => string.IsNullOrEmpty(e.ItemId) ? null : e.ItemId,
        EntityKinds.Creator when !string.IsNullOrEmpty(e.ItemId) && EventTypes.EngagementWeight(e.Type, e.Value) > 0 =>
            !string.IsNullOrEmpty(itemCreator) ? itemCreator : string.IsNullOrEmpty(e.CreatorId) ? null : e.CreatorId,
        _ => null,
    };
}

/// <summary>One as-of lookup of a stored feature: at the label's time, or just before the window that ends at it.</summary>
public sealed record OfflineLookup(StoredFeature Stored, FeatureWindow? BeforeWindow);

/// <summary>How an offline feature's value is formed from lookups.</summary>
public abstract record OfflineExpression;

/// <summary>The stored value as of the label time.</summary>
public sealed record StoredValue(OfflineLookup At) : OfflineExpression;

/// <summary>A windowed sum: the all-time value as of the label time minus the one just before the window's first bucket.</summary>
public sealed record WindowedValue(OfflineLookup At, OfflineLookup Before) : OfflineExpression;

/// <summary>Numerator / denominator; the feature's default when the denominator is 0.</summary>
public sealed record RatioValue(OfflineExpression Numerator, OfflineExpression Denominator) : OfflineExpression;

/// <summary>A feature a training set can ask for.</summary>
public sealed record OfflineFeature(FeatureDefinition Definition, OfflineExpression Expression)
{
    public string Name => Definition.Name;

    public string EntityKind => Definition.EntityKind;

    public IEnumerable<OfflineLookup> Lookups => Collect(Expression);

    private static IEnumerable<OfflineLookup> Collect(OfflineExpression expression) => expression switch
    {
        StoredValue s => [s.At],
        WindowedValue w => [w.At, w.Before],
        RatioValue r => Collect(r.Numerator).Concat(Collect(r.Denominator)),
        _ => [],
    };
}

/// <summary>
/// The offline view of the <see cref="FeatureRegistry"/>, driven by the definitions' transforms: all-time aggregates and
/// latest event times are stored (computed from events by the batch processor); windowed aggregates of a stored counter
/// are the difference of two as-of lookups of it; ratios of those derive at read. Other transforms (last items,
/// decayed popularity, distributions, affinities, item attributes, user-item cross features) have no offline form yet.
/// </summary>
public sealed class OfflineFeaturePlan
{
    private readonly Dictionary<string, OfflineFeature> _byName = new(StringComparer.Ordinal);

    public OfflineFeaturePlan(FeatureRegistry registry)
    {
        Registry = registry;
        var stored = new List<StoredFeature>();
        var byCounter = new Dictionary<(string Kind, string Field), StoredFeature>();
        foreach (var definition in registry.Definitions)
        {
            if (definition.Transform is AggregateTransform { Window: null } or LatestEventTimeTransform)
            {
                var feature = new StoredFeature(definition);
                if (byCounter.TryAdd((feature.EntityKind, feature.Field), feature))
                {
                    stored.Add(feature);
                    _byName[definition.Name] = new OfflineFeature(definition, new StoredValue(new OfflineLookup(feature, null)));
                }
            }
        }

        OfflineExpression? Aggregate(string kind, AggregateTransform a) =>
            !byCounter.TryGetValue((kind, a.Counter), out var s) ? null
            : a.Window is null ? new StoredValue(new OfflineLookup(s, null))
            : new WindowedValue(new OfflineLookup(s, null), new OfflineLookup(s, a.Window));

        foreach (var definition in registry.Definitions)
        {
            var expression = definition.Transform switch
            {
                AggregateTransform { Window: not null } a => Aggregate(definition.EntityKind, a),
                RatioTransform r when Aggregate(definition.EntityKind, r.Numerator) is { } n && Aggregate(definition.EntityKind, r.Denominator) is { } d =>
                    new RatioValue(n, d),
                _ => null,
            };
            if (expression is not null)
            {
                _byName.TryAdd(definition.Name, new OfflineFeature(definition, expression));
            }
        }

        Stored = stored;
    }

    public FeatureRegistry Registry { get; }

    /// <summary>The features the batch processor computes and the offline store holds.</summary>
    public IReadOnlyList<StoredFeature> Stored { get; }

    /// <summary>Every feature a training set can ask for.</summary>
    public IEnumerable<OfflineFeature> Features => _byName.Values;

    public bool TryGet(string name, out OfflineFeature feature) => _byName.TryGetValue(name, out feature!);
}
