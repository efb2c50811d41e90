using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace RecSys.ServiceDefaults.Security;

/// <summary>Load shedding (section <c>RecSys:RateLimiting</c>): a token bucket per client on public routes, a global concurrency cap.</summary>
public sealed class RateLimitingOptions
{
    public const string SectionName = "RecSys:RateLimiting";

    /// <summary>Sustained requests per second a client may send to public routes; 0 turns the bucket off.</summary>
    [Range(0, 1_000_000)]
    public int PerClientTokensPerSecond { get; set; } = 200;

    /// <summary>Burst a client may send at once.</summary>
    [Range(1, 1_000_000)]
    public int PerClientBurst { get; set; } = 400;

    /// <summary>
    /// Requests in flight over the whole service before new ones get 429 at once; 0: no cap. With
    /// <see cref="ConcurrencyTargetP99"/> set it is the ceiling of the adaptive limit.
    /// </summary>
    [Range(0, 100_000)]
    public int MaxConcurrentRequests { get; set; }

    /// <summary>
    /// When set, the concurrency limit adapts to keep the p99 latency of admitted requests under this (see
    /// <see cref="AdaptiveConcurrencyLimiter"/>); unset, <see cref="MaxConcurrentRequests"/> is a fixed cap.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:10:00")]
    public TimeSpan? ConcurrencyTargetP99 { get; set; }

    /// <summary>The adaptive limit's floor.</summary>
    [Range(1, 100_000)]
    public int MinConcurrentRequests { get; set; } = 4;

    /// <summary>The adaptive limit at start; unset: <see cref="MaxConcurrentRequests"/>.</summary>
    [Range(1, 100_000)]
    public int? InitialConcurrentRequests { get; set; }

    /// <summary>The adaptive limit moves at most once per window of at least this long...</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan ConcurrencyWindow { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>...and at least this many completed requests.</summary>
    [Range(1, 8_192)]
    public int ConcurrencyWindowMinSamples { get; set; } = 20;
}

[OptionsValidator]
public sealed partial class RateLimitingOptionsValidator : IValidateOptions<RateLimitingOptions>;
