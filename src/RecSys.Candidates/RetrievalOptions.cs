using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using RecSys.Core.Domain;

namespace RecSys.Candidates;

/// <summary>
/// Configuration section <c>Retrieval</c>. Budgets and weights per source follow the design's multi-source retrieval for a
/// target of 5000 candidates; a request for fewer (or more) scales every budget by <c>count / TargetCount</c>.
/// A source takes part when it is registered (<c>AddCandidateSource&lt;TSource&gt;</c> in the Retrieval service)
/// and enabled here; adding one is one class plus one entry under <c>Retrieval:Sources</c>.
/// </summary>
public sealed class RetrievalOptions
{
    public const string SectionName = "Retrieval";

    /// <summary>Largest <c>count</c> a request may ask for.</summary>
    public const int MaxCount = 10_000;

    /// <summary>The candidate count the configured budgets are written for.</summary>
    [Range(1, 1_000_000)]
    public int TargetCount { get; set; } = 5000;

    /// <summary>Count used when a request does not give one.</summary>
    [Range(1, MaxCount)]
    public int DefaultCount { get; set; } = 500;

    /// <summary>Floor of a scaled budget, so that a small request still asks every source for something.</summary>
    [Range(1, 100_000)]
    public int MinSourceBudget { get; set; } = 20;

    /// <summary>Default time one source may take; a source may override it.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:01:00")]
    public TimeSpan SourceTimeout { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Time the eligibility filter (seen, unavailable) may take; it is not optional, so a timeout fails the request.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:01:00")]
    public TimeSpan FilterTimeout { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Time the start-up warm-up request may take (connection to the store, JIT); zero disables it.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan WarmupTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Source asked again with a larger budget when fewer than <c>count</c> candidates survive the filters
    /// (a cold-start user only has trending). Empty disables backfill.
    /// </summary>
    public string? BackfillSource { get; set; } = SourceNames.Trending;

    /// <summary>
    /// The backfill source reads <c>min(count, MaxBackfillReserve)</c> items (or its budget, when larger) in its first call,
    /// so that a short list is usually completed without another round trip.
    /// </summary>
    [Range(0, 100_000)]
    public int MaxBackfillReserve { get; set; } = 2000;

    /// <summary>Further reads of the backfill source when its reserve does not complete the list.</summary>
    [Range(0, 10)]
    public int MaxBackfillRounds { get; set; } = 2;

    /// <summary>Budget, weight and switch per source name (keys are case-insensitive).</summary>
    public Dictionary<string, CandidateSourceOptions> Sources { get; set; } = DefaultSources();

    [Required]
    [ValidateObjectMembers]
    public RetrievalFallbackOptions Fallback { get; set; } = new();

    [Required]
    [ValidateObjectMembers]
    public RecentSimilarOptions RecentSimilar { get; set; } = new();

    [Required]
    [ValidateObjectMembers]
    public CreatorSourceOptions Creator { get; set; } = new();

    [Required]
    [ValidateObjectMembers]
    public ContentSourceOptions Content { get; set; } = new();

    /// <summary>The spec's budgets (for 5000 candidates) and fusion weights.</summary>
    public static Dictionary<string, CandidateSourceOptions> DefaultSources() => new(StringComparer.OrdinalIgnoreCase)
    {
        [SourceNames.Collaborative] = new() { Budget = 2500, Weight = 1.0 },
        [SourceNames.Content] = new() { Budget = 1000, Weight = 0.9 },
        [SourceNames.Trending] = new() { Budget = 500, Weight = 0.7 },
        [SourceNames.RecentSimilar] = new() { Budget = 750, Weight = 0.85 },
        [SourceNames.Creator] = new() { Budget = 250, Weight = 0.8 },
    };
}

public sealed class CandidateSourceOptions
{
    /// <summary>Candidates asked of the source for a request of <see cref="RetrievalOptions.TargetCount"/>.</summary>
    [Range(1, 1_000_000)]
    public int Budget { get; set; }

    /// <summary>Weight of the source in fusion.</summary>
    [Range(0.0, 100.0)]
    public double Weight { get; set; }

    public bool Enabled { get; set; } = true;

    /// <summary>Overrides <see cref="RetrievalOptions.SourceTimeout"/> for this source.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:01:00")]
    public TimeSpan? Timeout { get; set; }
}

/// <summary>
/// The fallback policy: when <see cref="Source"/> fails or is absent, the budgets of <see cref="Boost"/> are multiplied by
/// <see cref="BudgetMultiplier"/>. The boosted sources fetch the larger budget up front (one round trip, no retry) and keep
/// only their normal budget when the critical source succeeds.
/// </summary>
public sealed class RetrievalFallbackOptions
{
    public string Source { get; set; } = SourceNames.Collaborative;

    public IList<string> Boost { get; set; } = [SourceNames.Content, SourceNames.Trending];

    [Range(1.0, 10.0)]
    public double BudgetMultiplier { get; set; } = 1.5;
}

public sealed class RecentSimilarOptions
{
    /// <summary>Most recent items used as seeds (the online store keeps 50 and pairs each event with the 10 newest).</summary>
    [Range(1, 1000)]
    public int SeedItems { get; set; } = 10;

    /// <summary>A seed's weight halves every this many items back in the user's history.</summary>
    [Range(0.1, 1000)]
    public double HalfLifeItems { get; set; } = 5;

    /// <summary>Neighbours read per seed: <c>ReadFactor x budget / seeds</c>, within [Min, Max] (the online store keeps 200).</summary>
    [Range(1, 10_000)]
    public int MinNeighboursPerSeed { get; set; } = 20;

    [Range(1, 10_000)]
    public int MaxNeighboursPerSeed { get; set; } = 200;

    /// <summary>How many entries are read, in total, per candidate of the budget.</summary>
    [Range(1.0, 100.0)]
    public double ReadFactor { get; set; } = 2.0;
}

public sealed class CreatorSourceOptions
{
    /// <summary>Creators taken from the user's affinity zset, besides the ones followed.</summary>
    [Range(0, 1000)]
    public int TopAffinityCreators { get; set; } = 20;

    /// <summary>At most this many followed creators are read (the ones with affinity first).</summary>
    [Range(0, 10_000)]
    public int MaxFollowedCreators { get; set; } = 50;

    /// <summary>Affinity of a followed creator, on the scale where the user's strongest affinity is 1.</summary>
    [Range(0.0, 1.0)]
    public double FollowedAffinity { get; set; } = 1.0;

    /// <summary>
    /// Newest items read per creator: <c>ReadFactor x budget x the creator's share of the selected creators' affinity</c>,
    /// within [Min, Max] and at most the budget.
    /// </summary>
    [Range(1, 10_000)]
    public int MinItemsPerCreator { get; set; } = 5;

    [Range(1, 10_000)]
    public int MaxItemsPerCreator { get; set; } = 100;

    [Range(1.0, 100.0)]
    public double ReadFactor { get; set; } = 2.0;

    /// <summary>An item's recency factor halves every time this much passes since it was created.</summary>
    [Range(typeof(TimeSpan), "00:00:36", "4166.16:00:00")]
    public TimeSpan RecencyHalfLife { get; set; } = TimeSpan.FromDays(7);
}

public sealed class ContentSourceOptions
{
    /// <summary>The user's categories with the largest affinity that are read.</summary>
    [Range(1, 1000)]
    public int TopCategories { get; set; } = 5;

    /// <summary>
    /// Items read per category: <c>ReadFactor x budget x the category's share</c>, at least <see cref="MinItemsPerCategory"/>,
    /// at most the budget.
    /// </summary>
    [Range(1.0, 100.0)]
    public double ReadFactor { get; set; } = 2.0;

    [Range(1, 10_000)]
    public int MinItemsPerCategory { get; set; } = 10;
}
