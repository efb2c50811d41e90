using RecSys.FeatureStore.Registry;

namespace RecSys.FeatureStore.OnlineStores;

/// <summary>An entity of a feature request: <c>kind:id</c> (for <c>user_item</c>, id <c>userId:itemId</c>).</summary>
public readonly record struct EntityRef(string Kind, string Id)
{
    public override string ToString() => Kind + ":" + Id;
}

/// <summary>
/// One served value: a number, an id list or a vector, the event time of the latest event that changed it (when known),
/// whether it is the definition's default (missing, or older than the definition's TTL) and whether it is older than the
/// definition's freshness requirement (still served).
/// </summary>
public readonly record struct FeatureValue(double? Number, IReadOnlyList<string>? Ids, DateTimeOffset? EventTime, bool IsDefault, bool IsStale)
{
    /// <summary>The value of a vector feature (null for the other types, and for a vector feature's default).</summary>
    public float[]? Vector { get; init; }

    public static FeatureValue Default(FeatureDefinition feature) => new(feature.DefaultNumber, feature.DefaultIds, null, true, false);

    public static FeatureValue OfVector(float[] vector, DateTimeOffset? eventTime) => new(null, null, eventTime, false, false) { Vector = vector };
}

/// <summary>What to fetch: every listed feature of every listed entity of the feature's kind (pruned to what the caller needs).</summary>
public sealed record OnlineFeatureQuery(IReadOnlyList<EntityRef> Entities, IReadOnlyList<FeatureDefinition> Features)
{
    /// <summary>
    /// Whether the store's L1 cache may answer and keeps what is read (true by default), and whether a recently read active
    /// embedding version may be reused. Bulk readers that keep their own copy (a catalog-wide table) switch it off: their
    /// reads would only evict the entries requests reuse, and they stamp what they read with the version they see.
    /// </summary>
    public bool UseL1Cache { get; init; } = true;
}

/// <summary>The values of one entity, in the order of the query's features of its kind.</summary>
public sealed record EntityFeatureValues(EntityRef Entity, IReadOnlyList<FeatureDefinition> Features, FeatureValue[] Values);

/// <summary>A write of one counter field of an entity's feature hash carrying the event time of the value.</summary>
public readonly record struct FeatureWrite(EntityRef Entity, string Field, double Value, DateTimeOffset EventTime);

/// <summary>The online feature store: feature values by entity, fresh from the stream processor.</summary>
public interface IOnlineFeatureStore
{
    /// <summary>Fetches many entities x many features in one round trip; one result per entity, in query order.</summary>
    Task<IReadOnlyList<EntityFeatureValues>> GetAsync(OnlineFeatureQuery query, CancellationToken cancellationToken = default);

    /// <summary>
    /// Event-time guarded writes: each write lands only when its event time is later than the stored one
    /// (field <c>name@t</c>), atomically. Returns per write whether it landed.
    /// </summary>
    Task<bool[]> WriteIfNewerAsync(IReadOnlyList<FeatureWrite> writes, CancellationToken cancellationToken = default);
}
