using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Serving;

/// <summary>
/// Pings the online store under a hard deadline. A frozen store accepts the connection and never answers, so the ping is
/// abandoned at <paramref name="timeout"/> whatever the client's own timeouts are (10 s); a disconnected client is reported
/// at once without a ping, since its commands would wait in the reconnect backlog.
/// </summary>
internal sealed class OnlineStoreHealthCheck(IConnectionMultiplexer redis, TimeSpan timeout, HealthStatus failureStatus) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!redis.IsConnected)
        {
            return new HealthCheckResult(failureStatus, "The online store is not connected (refused or reconnecting).");
        }

        try
        {
            var latency = await redis.GetDatabase().PingAsync().WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            return HealthCheckResult.Healthy($"ping {latency.TotalMilliseconds:F1} ms");
        }
        catch (TimeoutException)
        {
            return new HealthCheckResult(failureStatus, $"The online store did not answer a ping within {timeout.TotalSeconds:F1} s (hung or overloaded).");
        }
        catch (Exception ex) when (OnlineStoreUnavailableException.IsStoreFailure(ex))
        {
            return new HealthCheckResult(failureStatus, "The online store refused a ping.", ex);
        }
    }
}
