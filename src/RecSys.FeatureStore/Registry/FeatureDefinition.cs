using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.Streaming;

namespace RecSys.FeatureStore.Registry;

/// <summary>Value types of served features.</summary>
public enum FeatureValueType
{
    Number,
    IdList,

    /// <summary>An embedding: float32 values of a fixed dimension (the index's).</summary>
    Vector,
}

/// <summary>
/// A sliding window of event time, counted in whole buckets: at read time <c>now</c> it covers the events whose bucket
/// index <c>floor(t_ms / Bucket)</c> lies in <c>[floor(now_ms / Bucket) - Buckets + 1, floor(now_ms / Bucket)]</c>.
/// The stream processor keeps one ring of buckets per resolution (<see cref="FeatureFields.Rings"/>).
/// </summary>
public sealed record FeatureWindow(string Name, TimeSpan Bucket, int Buckets)
{
    public static readonly FeatureWindow OneHour = new("1h", TimeSpan.FromMinutes(5), 12);
    public static readonly FeatureWindow OneDay = new("24h", TimeSpan.FromHours(1), 24);
    public static readonly FeatureWindow SevenDays = new("7d", TimeSpan.FromDays(1), 7);
    public static readonly FeatureWindow ThirtyDays = new("30d", TimeSpan.FromDays(1), 30);

    public static readonly IReadOnlyList<FeatureWindow> All = [OneHour, OneDay, SevenDays, ThirtyDays];

    public TimeSpan Length => Bucket * Buckets;

    /// <summary>The ring that stores this window's buckets.</summary>
    [JsonIgnore]
    public BucketRing Ring => FeatureFields.Rings.First(r => r.Bucket == Bucket);

    /// <summary>Whether an event at <paramref name="eventMs"/> counts at read time <paramref name="nowMs"/> (for the backfill).</summary>
    public bool Contains(long eventMs, long nowMs)
    {
        var now = Ring.BucketIndex(nowMs);
        var at = Ring.BucketIndex(eventMs);
        return at <= now && at > now - Buckets;
    }
}

/// <summary>What an event contributes to an aggregate.</summary>
public enum EventAmount
{
    /// <summary>1 per event.</summary>
    One,

    /// <summary>The event's engagement weight (<see cref="EventTypes.EngagementWeight"/>), events of weight &lt;= 0 ignored.</summary>
    Engagement,
}

/// <summary>Which attribute of the event's item a distribution or affinity groups by (the item's attributes when applied).</summary>
public enum ItemDimension
{
    Category,
    Creator,
}

/// <summary>
/// How a feature is computed from events: data, so that the stream processor (Lua), the online reader and the offline
/// backfill evaluate the same definition. Entity of an event: its user for user features, its item for item features,
/// the item's creator (as stored when the event was applied, else the event's creator) for creator features, which count
/// only events of positive engagement.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[JsonDerivedType(typeof(AggregateTransform), "aggregate")]
[JsonDerivedType(typeof(RatioTransform), "ratio")]
[JsonDerivedType(typeof(LatestEventTimeTransform), "latestEventTime")]
[JsonDerivedType(typeof(LastItemsTransform), "lastItems")]
[JsonDerivedType(typeof(DecayedPopularityTransform), "decayedPopularity")]
[JsonDerivedType(typeof(DistributionTransform), "distribution")]
[JsonDerivedType(typeof(TopAffinityTransform), "topAffinity")]
[JsonDerivedType(typeof(CrossAffinityTransform), "crossAffinity")]
[JsonDerivedType(typeof(FollowsTransform), "follows")]
[JsonDerivedType(typeof(ItemAttributeTransform), "itemAttribute")]
[JsonDerivedType(typeof(StoredEmbeddingTransform), "storedEmbedding")]
[JsonDerivedType(typeof(EmaEmbeddingTransform), "emaEmbedding")]
public abstract record FeatureTransform;

/// <summary>
/// Sum of <see cref="Amount"/> over the entity's events of <see cref="EventTypes"/> (all types when empty), in
/// <see cref="Window"/> (all time when null). Stored as counter <see cref="Counter"/> of the entity's feature hash.
/// </summary>
public sealed record AggregateTransform(string Counter, IReadOnlyList<EventType> EventTypes, EventAmount Amount, FeatureWindow? Window) : FeatureTransform;

/// <summary><see cref="Numerator"/> / <see cref="Denominator"/>; the definition's default when the denominator is 0.</summary>
public sealed record RatioTransform(AggregateTransform Numerator, AggregateTransform Denominator) : FeatureTransform;

/// <summary>The latest event time (unix ms) of the entity's events.</summary>
public sealed record LatestEventTimeTransform : FeatureTransform;

/// <summary>
/// The user's <see cref="Count"/> latest items of positive engagement (weight &gt; 0), newest first, each item once at its
/// latest event time; only those within <see cref="Within"/> of now when set (a session).
/// </summary>
public sealed record LastItemsTransform(int Count, TimeSpan? Within) : FeatureTransform;

/// <summary>Sum over the item's events of <c>engagement * 2^((t - now) / HalfLife)</c> (<see cref="DecayedScore"/>).</summary>
public sealed record DecayedPopularityTransform(TimeSpan HalfLife) : FeatureTransform;

/// <summary>
/// The user's engagement per value of <see cref="Dimension"/> in <see cref="Window"/>, as shares of the window's total,
/// served as ids <c>value=share</c> (share with 4 decimals), largest share first, at most <see cref="Count"/>.
/// </summary>
public sealed record DistributionTransform(ItemDimension Dimension, FeatureWindow Window, int Count) : FeatureTransform;

/// <summary>The user's <see cref="Count"/> values of <see cref="Dimension"/> of highest all-time engagement (follows add 5 to a creator).</summary>
public sealed record TopAffinityTransform(ItemDimension Dimension, int Count) : FeatureTransform;

/// <summary>
/// User x item, computed at read time: for categories, the largest all-time engagement of the user on any of the item's
/// categories divided by the user's total engagement; for creators, the user's all-time engagement with the item's creator
/// (follows add 5).
/// </summary>
public sealed record CrossAffinityTransform(ItemDimension Dimension) : FeatureTransform;

/// <summary>The creators the user follows.</summary>
public sealed record FollowsTransform : FeatureTransform;

/// <summary>A catalog attribute of the item (not computed from events).</summary>
public sealed record ItemAttributeTransform(string Field) : FeatureTransform;

/// <summary>Which stored embedding a <see cref="StoredEmbeddingTransform"/> serves.</summary>
public enum EmbeddingKind
{
    /// <summary>The item's embedding, stored with the vector index (<see cref="OnlineKeys.ItemEmbedding"/>).</summary>
    Item,

    /// <summary>The user's base embedding from the last training (<see cref="OnlineKeys.UserEmbedding"/>).</summary>
    UserBase,
}

/// <summary>An embedding published by training (not computed from events): the item's, or the user's base.</summary>
public sealed record StoredEmbeddingTransform(EmbeddingKind Embedding) : FeatureTransform;

/// <summary>
/// The spec's incremental user embedding (Bottleneck 3, solution 2): starting from the user's base embedding (else the
/// first engaged item's), every event of positive engagement on an item with an embedding moves it to
/// <c>(1 - Alpha) * current + Alpha * item</c>, in event-time order; an event older than the last one folded in is ignored
/// (the spec's out-of-order rule), and a new base embedding restarts it. Kept by the stream processor.
/// </summary>
public sealed record EmaEmbeddingTransform(double Alpha) : FeatureTransform
{
    /// <summary>The spec's learning rate.</summary>
    public const double DefaultAlpha = 0.1;
}

/// <summary>Where a feature's value comes from in the online store (kept for the offline plan: counters and ratios).</summary>
public abstract record FeatureSource;

/// <summary>An all-time counter field of the entity's feature hash (<see cref="OnlineKeys.Features"/>), its time in <c>field@t</c>.</summary>
public sealed record CounterSource(string Field) : FeatureSource;

/// <summary>The ratio of two all-time counter fields; the default when the denominator is 0 or absent.</summary>
public sealed record RatioSource(string Numerator, string Denominator) : FeatureSource;

/// <summary>Anything else: read as its <see cref="FeatureDefinition.Transform"/> says.</summary>
public sealed record TransformSource : FeatureSource;

/// <summary>
/// One feature: the single definition used for serving and for training. <see cref="Ttl"/>: a value whose event time is
/// older than this is served as the default (null: never). <see cref="Freshness"/>: a served value older than this is
/// counted and logged as stale but still served (null: not checked).
/// </summary>
public sealed record FeatureDefinition(
    string Name,
    string EntityKind,
    FeatureValueType ValueType,
    FeatureTransform Transform,
    TimeSpan? Ttl,
    TimeSpan? Freshness,
    double? DefaultNumber,
    string Description)
{
    /// <summary>The online location, derived from the transform (all-time aggregates are plain counters).</summary>
    public FeatureSource Source { get; } = Transform switch
    {
        AggregateTransform { Window: null } a => new CounterSource(a.Counter),
        RatioTransform { Numerator.Window: null, Denominator.Window: null } r => new RatioSource(r.Numerator.Counter, r.Denominator.Counter),
        _ => new TransformSource(),
    };

    public IReadOnlyList<string>? DefaultIds => ValueType == FeatureValueType.IdList ? [] : null;
}

/// <summary>A registry entry on the wire: the definition itself (the transform as tagged JSON) plus a readable source.</summary>
public sealed record FeatureDefinitionDto(
    string Name,
    string Entity,
    string ValueType,
    FeatureTransform Transform,
    double? TtlSeconds,
    double? FreshnessSeconds,
    double? Default,
    string Description);

/// <summary>Reply of <c>GET /v1/registry</c>.</summary>
public sealed record RegistryDto(string Version, IReadOnlyList<FeatureDefinitionDto> Features);

/// <summary>The features this server knows, in code; <see cref="Version"/> is a hash of the definitions.</summary>
public sealed class FeatureRegistry
{
    /// <summary>JSON of definitions (camelCase, enums as names): the hashed form and the wire form.</summary>
    public static readonly JsonSerializerOptions Json = CreateJson();

    private readonly Dictionary<string, FeatureDefinition> _byName;

    public FeatureRegistry()
        : this(BuiltInFeatures.All())
    {
    }

    public FeatureRegistry(IEnumerable<FeatureDefinition> definitions)
    {
        Definitions = [.. definitions];
        _byName = new Dictionary<string, FeatureDefinition>(StringComparer.Ordinal);
        foreach (var definition in Definitions)
        {
            if (!_byName.TryAdd(definition.Name, definition))
            {
                throw new ArgumentException($"Feature '{definition.Name}' is defined twice.", nameof(definitions));
            }
        }

        Dtos = [.. Definitions.Select(ToDto)];
        var hash = SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(Dtos, Json));
        Version = Convert.ToHexStringLower(hash.AsSpan(0, 8));
    }

    public IReadOnlyList<FeatureDefinition> Definitions { get; }

    /// <summary>First 16 hex digits of the SHA-256 of the definitions' JSON: changes whenever any definition does.</summary>
    public string Version { get; }

    private IReadOnlyList<FeatureDefinitionDto> Dtos { get; }

    public bool TryGet(string name, out FeatureDefinition definition) => _byName.TryGetValue(name, out definition!);

    public RegistryDto Describe() => new(Version, Dtos);

    private static FeatureDefinitionDto ToDto(FeatureDefinition d) => new(
        d.Name,
        d.EntityKind,
        d.ValueType switch
        {
            FeatureValueType.Number => "number",
            FeatureValueType.IdList => "idList",
            _ => "vector",
        },
        d.Transform,
        d.Ttl?.TotalSeconds,
        d.Freshness?.TotalSeconds,
        d.DefaultNumber,
        d.Description);

    private static JsonSerializerOptions CreateJson()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver(),
        };
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase));
        options.MakeReadOnly();
        return options;
    }
}
