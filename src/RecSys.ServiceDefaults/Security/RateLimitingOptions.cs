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

    /// <summary>Requests in flight over the whole service before new ones get 429 at once; 0: no cap.</summary>
    [Range(0, 100_000)]
    public int MaxConcurrentRequests { get; set; }
}

[OptionsValidator]
public sealed partial class RateLimitingOptionsValidator : IValidateOptions<RateLimitingOptions>;
