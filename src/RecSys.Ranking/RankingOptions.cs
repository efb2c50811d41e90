using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace RecSys.Ranking;

/// <summary>Settings of the serving front (section <c>Ranking</c>).</summary>
public sealed class RankingOptions
{
    public const string SectionName = "Ranking";

    /// <summary>Candidates asked of Retrieval per request.</summary>
    [Range(1, 10_000)]
    public int CandidateCount { get; set; } = 500;

    /// <summary>Items returned when the caller does not say.</summary>
    [Range(1, 500)]
    public int DefaultCount { get; set; } = 20;

    /// <summary>Largest <c>count</c> a caller may ask for.</summary>
    [Range(1, 500)]
    public int MaxCount { get; set; } = 200;

    /// <summary>Time allowed for candidate generation before the trending fallback answers instead.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan RetrievalTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Base address of the Retrieval service; service discovery resolves the default.</summary>
    [Required]
    public Uri RetrievalBaseAddress { get; set; } = new("http://retrieval");
}

/// <summary>The data annotations of <see cref="RankingOptions"/>, checked by generated code.</summary>
[OptionsValidator]
public sealed partial class RankingOptionsValidator : IValidateOptions<RankingOptions>;
