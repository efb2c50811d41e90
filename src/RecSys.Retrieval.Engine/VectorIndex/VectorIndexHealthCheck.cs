using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>Degraded while snapshots load, when a shard is missing, or when the last search did not cover every shard.</summary>
internal sealed class VectorIndexHealthCheck(VectorIndexManager manager) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var reason = manager.DegradedReason();
        var data = new Dictionary<string, object>
        {
            ["version"] = manager.Version,
            ["shards"] = manager.ShardCount,
            ["pending"] = manager.PendingWrites,
        };
        return Task.FromResult(reason is null
            ? HealthCheckResult.Healthy($"{manager.ShardCount} shards, index version {manager.Version}", data)
            : HealthCheckResult.Degraded(reason, data: data));
    }
}
