using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace RecSys.Ranking;

/// <summary>Settings of the serving front (section <c>Ranking</c>).</summary>
public sealed class RankingOptions
{
    public const string SectionName = "Ranking";

    /// <summary>Candidates asked of Retrieval per request (the design's 5,000; Retrieval scales its source budgets to it).</summary>
    [Range(1, 10_000)]
    public int CandidateCount { get; set; } = 5000;

    /// <summary>Items returned when the caller does not say.</summary>
    [Range(1, 500)]
    public int DefaultCount { get; set; } = 20;

    /// <summary>Largest <c>count</c> a caller may ask for.</summary>
    [Range(1, 500)]
    public int MaxCount { get; set; } = 200;

    /// <summary>Time allowed for candidate generation before the trending fallback answers instead.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan RetrievalTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Time one call to Retrieval may take before it is abandoned and retried, within <see cref="RetrievalTimeout"/>.
    /// Retrieval answers p99 in about 100 ms and fails a request whose filter exceeds 250 ms.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan RetrievalAttemptTimeout { get; set; } = TimeSpan.FromMilliseconds(600);

    /// <summary>Retries of a transient Retrieval failure (5xx, 408, 429, connection errors, attempt timeouts).</summary>
    [Range(0, 5)]
    public int RetrievalRetries { get; set; } = 2;

    /// <summary>
    /// Delay before a retry (jittered). It must be far below <see cref="RetrievalTimeout"/>: the standard resilience
    /// handler's 2 s exponential backoff made a retried request outlive the whole 2 s budget.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:10")]
    public TimeSpan RetrievalRetryDelay { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Base address of the Retrieval service; service discovery resolves the default.</summary>
    [Required]
    public Uri RetrievalBaseAddress { get; set; } = new("http://retrieval");

    /// <summary>API key sent as <c>X-Api-Key</c> to Retrieval (a key with the public-read role); none when unset.</summary>
    public string? RetrievalApiKey { get; set; }
}

/// <summary>The data annotations of <see cref="RankingOptions"/>, checked by generated code.</summary>
[OptionsValidator]
public sealed partial class RankingOptionsValidator : IValidateOptions<RankingOptions>;
