using System.Globalization;

namespace RecSys.Ranking.Caching;

/// <summary>
/// What a cached score depends on besides the item: the user, the model version that scored it and the version of the
/// feature state the features were read at. The feature-state version is opaque here; the caller derives it from the
/// feature provider, and any change of it makes every earlier score of the scope unreachable.
/// </summary>
public readonly record struct ScoreCacheScope
{
    public ScoreCacheScope(string userId, string modelVersion, string featureStateVersion)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        ArgumentException.ThrowIfNullOrEmpty(modelVersion);
        ArgumentNullException.ThrowIfNull(featureStateVersion);
        UserId = userId;
        ModelVersion = modelVersion;
        FeatureStateVersion = featureStateVersion;
    }

    public ScoreCacheScope(string userId, string modelVersion, long featureStateVersion)
        : this(userId, modelVersion, featureStateVersion.ToString(CultureInfo.InvariantCulture))
    {
    }

    public string UserId { get; }

    public string ModelVersion { get; }

    public string FeatureStateVersion { get; }

    /// <summary>False for <c>default(ScoreCacheScope)</c>, which the cache refuses.</summary>
    public bool IsValid => UserId is not null && ModelVersion is not null && FeatureStateVersion is not null;
}
