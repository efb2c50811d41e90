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

    public static EntityValues Empty { get; } = new();

    public int Count => _values.Count;

    public IEnumerable<KeyValuePair<string, FeatureValue>> All => _values;

    /// <summary>Sets a value; a default value (<see cref="FeatureValue.IsDefault"/>) is stored as absent.</summary>
    public EntityValues Set(string feature, FeatureValue value)
    {
        ArgumentException.ThrowIfNullOrEmpty(feature);
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
    public IReadOnlyList<string>? Ids(string feature) => _values.TryGetValue(feature, out var v) ? v.Ids : null;

    public float[]? Vector(string feature) => _values.TryGetValue(feature, out var v) ? v.Vector : null;

    /// <summary>
    /// <see cref="RequestSide.Norm"/> of <paramref name="vector"/>, the value of <paramref name="feature"/>, remembered with
    /// that array: the table's item values are shared by every request, and several features of each candidate divide by it.
    /// A value set since (another array) is computed afresh.
    /// </summary>
    public float VectorNorm(string feature, float[] vector)
    {
        ArgumentNullException.ThrowIfNull(vector);
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
}

/// <summary>
/// Everything a request's feature rows are computed from: the user's values, the values of the items the user-side
/// features look into (recent and session items: their categories, popularity and embeddings) and the request time.
/// Candidate values are passed per row.
/// </summary>
public sealed record RankingRequestValues(EntityValues User, IReadOnlyDictionary<string, EntityValues> ContextItems, long RequestTimeMs, string? Context);
