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

    /// <summary>
    /// How often the in-process <see cref="ItemFeatureTable"/> re-reads the whole catalog's item values; zero: no table, item
    /// values are read per request through the item cache. Item values are aggregates over days (popularity has a 3-day
    /// half-life), so a minute of age changes no ranking measurably, while each refresh costs a full catalog read.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan ItemTableRefresh { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Items per pipelined batch of a table refresh.</summary>
    [Range(10, 100_000)]
    public int ItemTableChunk { get; set; } = 1_000;

    /// <summary>Batches of a table refresh in flight at once.</summary>
    [Range(1, 64)]
    public int ItemTableChunksInFlight { get; set; } = 4;

    /// <summary>
    /// Whether the rows of candidates the item table holds are computed from its records by item number
    /// (<see cref="ItemColumns"/>), the default; false computes them from the items' values through the catalog's functions
    /// (the same rows, bit for bit, at a higher cost): for comparison, and as a way back should the two ever differ.
    /// </summary>
    public bool UseItemColumns { get; set; } = true;

    /// <summary>Most candidates one request may carry.</summary>
    [Range(1, 100_000)]
    public int MaxCandidates { get; set; } = 5_000;
}

/// <summary>The data annotations of <see cref="RankingFeatureProviderOptions"/>, checked by generated code.</summary>
[OptionsValidator]
public sealed partial class RankingFeatureProviderOptionsValidator : IValidateOptions<RankingFeatureProviderOptions>;
