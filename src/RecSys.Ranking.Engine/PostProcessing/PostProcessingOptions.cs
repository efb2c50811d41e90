using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace RecSys.Ranking.PostProcessing;

/// <summary>What happens to the main ranker's scores before the response (section <c>Ranking:PostProcessing</c>).</summary>
public sealed class PostProcessingOptions
{
    public const string SectionName = "Ranking:PostProcessing";

    /// <summary>Key of <see cref="BlockedCategories"/> whose categories are blocked in every context.</summary>
    public const string AnyContext = "*";

    /// <summary>Largest number of items a request may ask for.</summary>
    [Range(1, 10_000)]
    public int MaxCount { get; set; } = 500;

    /// <summary>Drop the items the item metadata marks unavailable.</summary>
    public bool RemoveUnavailable { get; set; } = true;

    /// <summary>Most items of one creator kept among the candidates (the best-scored ones); 0 for no limit.</summary>
    [Range(0, 10_000)]
    public int MaxItemsPerCreator { get; set; }

    [Required]
    [ValidateObjectMembers]
    public FreshnessBoostOptions Freshness { get; set; } = new();

    /// <summary>Categories never shown, per request context (keys case-insensitive; <see cref="AnyContext"/> for all contexts).</summary>
    public Dictionary<string, string[]> BlockedCategories { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Items forced into given ranks when they are eligible candidates of the request.</summary>
    [ValidateEnumeratedItems]
    public List<PinnedItemOptions> PinnedItems { get; set; } = [];

    [Required]
    [ValidateObjectMembers]
    public DiversityOptions Diversity { get; set; } = new();
}

/// <summary>
/// Boost of new items: an item created <c>age</c> before the request, with <c>age &lt; Window</c>, has its score multiplied by
/// <c>1 + (Factor - 1) * (1 - age / Window)</c>: the full factor when brand new, decaying linearly to none at the window's end.
/// </summary>
public sealed class FreshnessBoostOptions
{
    /// <summary>How long an item counts as new; zero turns the boost off.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "365.00:00:00")]
    public TimeSpan Window { get; set; } = TimeSpan.FromDays(2);

    /// <summary>Score multiplier of a brand-new item (1 for no boost).</summary>
    [Range(1.0, 100.0)]
    public double Factor { get; set; } = 1.2;
}

/// <summary>An item forced into a rank of the response.</summary>
public sealed class PinnedItemOptions
{
    [Required]
    [MinLength(1)]
    public string ItemId { get; set; } = "";

    /// <summary>1-based rank in the response; an item pinned beyond the requested count competes like any other.</summary>
    [Range(1, 10_000)]
    public int Rank { get; set; } = 1;

    /// <summary>Request contexts the pin applies in (case-insensitive); empty for every context.</summary>
    public string[] Contexts { get; set; } = [];
}

/// <summary>Diversity re-ranking: maximal marginal relevance over item embeddings, with caps per category and creator.</summary>
public sealed class DiversityOptions
{
    /// <summary>When false the response is the top of the score order (no MMR, no caps).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Weight of relevance against similarity: 1 keeps the score order, 0 picks the least similar item each time.</summary>
    [Range(0.0, 1.0)]
    public double Lambda { get; set; } = 0.7;

    /// <summary>Most items sharing one category in the response; 0 for no cap.</summary>
    [Range(0, 10_000)]
    public int MaxPerCategory { get; set; }

    /// <summary>Most items of one creator in the response; 0 for no cap.</summary>
    [Range(0, 10_000)]
    public int MaxPerCreator { get; set; }
}

/// <summary>The data annotations of <see cref="PostProcessingOptions"/> and its nested sections, checked by generated code.</summary>
[OptionsValidator]
public sealed partial class PostProcessingOptionsValidator : IValidateOptions<PostProcessingOptions>;

/// <summary>
/// What annotations cannot say: blocked category lists without empty names, and pins that do not collide (one pin per item,
/// and no two pins of overlapping contexts on one rank).
/// </summary>
public sealed class PostProcessingRulesValidator : IValidateOptions<PostProcessingOptions>
{
    public ValidateOptionsResult Validate(string? name, PostProcessingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        foreach (var (context, categories) in options.BlockedCategories ?? [])
        {
            if (categories is null || categories.Any(string.IsNullOrWhiteSpace))
            {
                failures.Add($"{PostProcessingOptions.SectionName}:BlockedCategories:{context} has an empty category name.");
            }
        }

        var pins = options.PinnedItems ?? [];
        for (var a = 0; a < pins.Count; a++)
        {
            for (var b = a + 1; b < pins.Count; b++)
            {
                if (pins[a] is null || pins[b] is null)
                {
                    continue;
                }

                if (string.Equals(pins[a].ItemId, pins[b].ItemId, StringComparison.Ordinal))
                {
                    failures.Add($"{PostProcessingOptions.SectionName}:PinnedItems pins item '{pins[a].ItemId}' twice (entries {a} and {b}).");
                }
                else if (pins[a].Rank == pins[b].Rank && ContextsOverlap(pins[a].Contexts, pins[b].Contexts))
                {
                    failures.Add($"{PostProcessingOptions.SectionName}:PinnedItems entries {a} and {b} both pin rank {pins[a].Rank} in a common context.");
                }
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static bool ContextsOverlap(string[]? first, string[]? second) =>
        first is not { Length: > 0 } || second is not { Length: > 0 } || first.Intersect(second, StringComparer.OrdinalIgnoreCase).Any();
}
