using RecSys.FeatureStore.OnlineStores;

namespace RecSys.Ranking.Features;

/// <summary>
/// Feature-store values of one entity by registry feature name, as either path produces them: the online provider from the
/// online store, the Trainer's offline assembly from the event log as of a label's time. A name absent here is treated as
/// the store having no value (the ranking feature's default is used and counted).
/// </summary>
public sealed class EntityValues
{
    private readonly Dictionary<string, FeatureValue> _values = new(StringComparer.Ordinal);

    // Set by PrecomputeItemFeatures (the item table, before it publishes a snapshot), cleared by any Set.
    private ItemDerived? _derived;

    public static EntityValues Empty { get; } = new();

    public int Count => _values.Count;

    public IEnumerable<KeyValuePair<string, FeatureValue>> All => _values;

    /// <summary>Sets a value; a default value (<see cref="FeatureValue.IsDefault"/>) is stored as absent.</summary>
    public EntityValues Set(string feature, FeatureValue value)
    {
        ArgumentException.ThrowIfNullOrEmpty(feature);
        _derived = null;
        if (value.IsDefault)
        {
            _values.Remove(feature);
        }
        else
        {
            _values[feature] = value;
        }

        return this;
    }

    public EntityValues SetNumber(string feature, double value) => Set(feature, new FeatureValue(value, null, null, false, false));

    public EntityValues SetIds(string feature, IReadOnlyList<string> ids) => Set(feature, new FeatureValue(null, ids, null, false, false));

    public EntityValues SetVector(string feature, float[] vector) => Set(feature, FeatureValue.OfVector(vector, null));

    public bool TryNumber(string feature, out double value)
    {
        if (_values.TryGetValue(feature, out var v) && v.Number is { } n && double.IsFinite(n))
        {
            value = n;
            return true;
        }

        value = 0;
        return false;
    }

    /// <summary>The id list, or null when absent (an empty stored list is returned as empty).</summary>
    public IReadOnlyList<string>? Ids(string feature) =>
        _derived is { } derived && ReferenceEquals(feature, RankingFeatureCatalog.ItemCategories) ? derived.Categories
        : _values.TryGetValue(feature, out var v) ? v.Ids : null;

    public float[]? Vector(string feature) =>
        _derived is { } derived && ReferenceEquals(feature, RankingFeatureCatalog.ItemEmbedding) ? derived.Embedding
        : _values.TryGetValue(feature, out var v) ? v.Vector : null;

    /// <summary>
    /// Computes this item's <see cref="RankingFeatureCatalog.ItemOnly"/> features once and keeps them, with its embedding, the
    /// embedding's norm and its categories at hand: a request then reads one small array per candidate instead of a
    /// dictionary lookup per feature (the table's 100k items do not stay in cache, and each lookup was a miss). The
    /// values are those the features compute; any later <see cref="Set"/> drops them. Call it before sharing the values.
    /// </summary>
    public void PrecomputeItemFeatures()
    {
        var values = new float?[RankingFeatureCatalog.ItemOnly.Count];
        _derived = null;
        foreach (var feature in RankingFeatureCatalog.ItemOnly)
        {
            values[feature.ItemSlot] = feature.Compute(RequestSide.None, this);
        }

        var embedding = Vector(RankingFeatureCatalog.ItemEmbedding);
        _derived = new ItemDerived(values, embedding, embedding is null ? 0 : RequestSide.Norm(embedding), Ids(RankingFeatureCatalog.ItemCategories));
    }

    /// <summary>
    /// Reads what a row of this item will read (its precomputed values, embedding and categories) and returns a number made
    /// of them, so that the reads happen. A loop over a request's candidates that does only this keeps many cache misses in
    /// flight at once; the row computation after it then finds the lines in cache instead of waiting for each in turn.
    /// </summary>
    public int Touch() => _derived is { } derived ? derived.Values.Length + (derived.Embedding?.Length ?? 0) + (derived.Categories?.Count ?? 0) : 0;

    /// <summary>The precomputed value of the item-only feature in <paramref name="slot"/>, when <see cref="PrecomputeItemFeatures"/> ran.</summary>
    public bool TryItemFeature(int slot, out float? value)
    {
        if (_derived is { } derived)
        {
            value = derived.Values[slot];
            return true;
        }

        value = null;
        return false;
    }

    /// <summary>
    /// <see cref="RequestSide.Norm"/> of <paramref name="vector"/>, the value of <paramref name="feature"/>, remembered with
    /// that array: the table's item values are shared by every request, and several features of each candidate divide by it.
    /// A value set since (another array) is computed afresh.
    /// </summary>
    public float VectorNorm(string feature, float[] vector)
    {
        ArgumentNullException.ThrowIfNull(vector);
        if (_derived is { } derived && ReferenceEquals(derived.Embedding, vector))
        {
            return derived.EmbeddingNorm;
        }

        // One immutable reference, replaced whole: a concurrent reader sees an old or a new pair, never half of one.
        if (Volatile.Read(ref _norm) is { } known && ReferenceEquals(known.Vector, vector) && string.Equals(known.Feature, feature, StringComparison.Ordinal))
        {
            return known.Norm;
        }

        var norm = RequestSide.Norm(vector);
        Volatile.Write(ref _norm, new KnownNorm(feature, vector, norm));
        return norm;
    }

    private KnownNorm? _norm;

    private sealed record KnownNorm(string Feature, float[] Vector, float Norm);

    private sealed record ItemDerived(float?[] Values, float[]? Embedding, float EmbeddingNorm, IReadOnlyList<string>? Categories);
}

/// <summary>
/// Everything a request's feature rows are computed from: the user's values, the values of the items the user-side
/// features look into (recent and session items: their categories, popularity and embeddings) and the request time.
/// Candidate values are passed per row.
/// </summary>
public sealed record RankingRequestValues(EntityValues User, IReadOnlyDictionary<string, EntityValues> ContextItems, long RequestTimeMs, string? Context);
