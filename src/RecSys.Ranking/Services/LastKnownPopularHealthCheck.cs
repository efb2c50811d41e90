using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace RecSys.Ranking.Services;

/// <summary>
/// Reports the last-known popular list (items and when it was read) on <c>/health</c>: always healthy, since it is the
/// fallback's state, not a dependency; an operator sees how old the list an outage would serve is.
/// </summary>
public sealed class LastKnownPopularHealthCheck(LastKnownPopularList list) : IHealthCheck
{
    public const string Name = "last-known-popular";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object> { ["items"] = list.Count };
        if (list.AsOf is { } asOf)
        {
            data["asOf"] = asOf;
        }

        return Task.FromResult(HealthCheckResult.Healthy(
            list.Count == 0 ? "No popular list read yet: an outage of Retrieval and the store before the first read would answer empty." : $"{list.Count} items read at {list.AsOf:O}",
            data));
    }
}
