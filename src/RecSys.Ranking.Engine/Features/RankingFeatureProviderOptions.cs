using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace RecSys.Ranking.Features;

/// <summary>Options of the feature-store ranking feature provider, section <c>Ranking:Features</c>.</summary>
public sealed class RankingFeatureProviderOptions
{
    public const string SectionName = "Ranking:Features";

    /// <summary>
    /// How long item values (candidates, recent and session items) are reused from the provider's in-process cache; zero
    /// switches it off. User values are always read fresh, so that the session features see the latest events. Item values
    /// are aggregates that move slowly, and with ~5,000 candidates per request they are most of the fetch: 30 s by default.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:05:00")]
    public TimeSpan ItemCacheTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Most (item, feature) values the cache holds.</summary>
    [Range(1, 10_000_000)]
    public int ItemCacheMaxEntries { get; set; } = 500_000;

    /// <summary>Most candidates one request may carry.</summary>
    [Range(1, 100_000)]
    public int MaxCandidates { get; set; } = 5_000;
}

/// <summary>The data annotations of <see cref="RankingFeatureProviderOptions"/>, checked by generated code.</summary>
[OptionsValidator]
public sealed partial class RankingFeatureProviderOptionsValidator : IValidateOptions<RankingFeatureProviderOptions>;
