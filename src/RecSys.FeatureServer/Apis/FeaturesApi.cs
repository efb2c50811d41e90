using Microsoft.AspNetCore.Http.HttpResults;
using RecSys.Core.Contracts;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.Registry;
using RecSys.FeatureStore.Streaming;
using RecSys.ServiceDefaults.Security;
using StackExchange.Redis;

namespace RecSys.FeatureServer.Apis;

/// <summary><c>GET /v1/registry</c>, <c>GET /v1/features/online</c> and <c>GET /v1/status</c>.</summary>
public static class FeaturesApi
{
    public static IEndpointRouteBuilder MapFeaturesApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1").WithTags("Features").RequireAdmin();
        api.MapGet("/registry", (FeatureRegistry registry) => TypedResults.Ok(registry.Describe()))
            .WithName("GetRegistry")
            .WithSummary("The feature definitions and the registry version (a hash of them)");
        api.MapGet("/features/online", GetOnlineFeaturesAsync)
            .WithName("GetOnlineFeatures")
            .WithSummary("Read features of entities (entities=user:u1,item:i9&features=user_ctr,item_popularity)");
        api.MapGet("/status", GetStatusAsync)
            .WithName("GetFeatureServerStatus")
            .WithSummary("Items known, event log tail and stream processor progress");
        return app;
    }

    public static async Task<Results<Ok<OnlineFeaturesResponse>, ValidationProblem>> GetOnlineFeaturesAsync(
        string? entities, string? features, OnlineFeatureReader reader, CancellationToken cancellationToken)
    {
        if (reader.ParseRequest(entities, features, out var request) is { } errors)
        {
            return TypedResults.ValidationProblem(errors, title: "The feature request is invalid.");
        }

        return TypedResults.Ok(await reader.ReadAsync(request!, cancellationToken));
    }

    public static async Task<Ok<FeatureServerStatus>> GetStatusAsync(IConnectionMultiplexer redis, IEventLog log, CancellationToken cancellationToken)
    {
        // Queried now, not this instance's cached tail: with Kafka, other producers' records count too.
        var end = await log.GetEndPositionAsync(cancellationToken);
        var db = redis.GetDatabase();
        var batch = db.CreateBatch();
        var items = batch.SetLengthAsync(OnlineKeys.AllItems);
        var position = batch.StringGetAsync(OnlineKeys.ProcessorPosition);
        var stats = batch.HashGetAsync(ProcessorKeys.Stats, [ProcessorKeys.EventsApplied, ProcessorKeys.DuplicatesSkipped]);
        batch.Execute();
        await Task.WhenAll(items, position, stats);
        var counts = stats.Result;
        return TypedResults.Ok(new FeatureServerStatus(
            items.Result,
            end.Ordinal,
            position.Result.IsNull ? 0 : LogPosition.Parse(position.Result.ToString()).Ordinal,
            counts[0].IsNull ? 0 : (long)counts[0],
            counts[1].IsNull ? 0 : (long)counts[1]));
    }
}
