using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using RecSys.Retrieval.VectorIndex;
using RecSys.ServiceDefaults.Security;

namespace RecSys.Retrieval.Apis;

/// <summary>Body of <c>PUT /v1/fault-injection/shard-stall</c>: the shard to stall (null clears) and for how long each search waits.</summary>
public sealed record ShardStallRequest(int? Shard, int? DelayMs);

/// <summary>
/// Test-only: mapped only when <c>Retrieval:FaultInjection:Enabled</c> is true (the AppHost fault tests set it), so that a
/// test can stall one index shard of a running service and watch the answers turn partial.
/// </summary>
public static partial class FaultInjectionApi
{
    public static IEndpointRouteBuilder MapFaultInjectionApi(this IEndpointRouteBuilder app)
    {
        if (app.ServiceProvider.GetService<ShardFaultInjection>() is null)
        {
            return app;
        }

        LogEnabled(app.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(FaultInjectionApi)));
        app.MapPut("/v1/fault-injection/shard-stall", SetShardStall)
            .WithTags("Fault injection (tests only)")
            .WithName("SetShardStall")
            .WithSummary("Test-only: stalls every search of one shard (null shard clears). Mapped only when Retrieval:FaultInjection:Enabled is true.")
            .RequireAdmin();
        return app;
    }

    public static Results<NoContent, ValidationProblem> SetShardStall(ShardStallRequest request, ShardFaultInjection faults, IOptions<VectorIndexOptions> index)
    {
        var count = index.Value.Shards;
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (request.Shard is { } shard && (shard < 0 || shard >= count))
        {
            errors["shard"] = [$"shard must be from 0 to {count - 1}, or null to clear the stall."];
        }

        if (request.DelayMs is not (null or (>= 0 and <= 60_000)))
        {
            errors["delayMs"] = ["delayMs must be from 0 to 60000."];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors, title: "The fault injection request is not valid.");
        }

        faults.Set(request.Shard, TimeSpan.FromMilliseconds(request.DelayMs ?? 5_000));
        return TypedResults.NoContent();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Test-only fault injection is enabled (Retrieval:FaultInjection:Enabled): PUT /v1/fault-injection/shard-stall can stall an index shard")]
    private static partial void LogEnabled(ILogger logger);
}
