using Microsoft.AspNetCore.Http.HttpResults;
using RecSys.Core.Contracts;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.Telemetry;
using RecSys.FeatureStore.Validation;
using RecSys.ServiceDefaults;
using RecSys.ServiceDefaults.Security;

namespace RecSys.FeatureServer.Apis;

/// <summary>The dependencies of the ingestion endpoints.</summary>
public sealed class IngestServices(IEventLog log, FeatureStoreTelemetry metrics, TimeProvider time)
{
    public IEventLog Log { get; } = log;

    public FeatureStoreTelemetry Metrics { get; } = metrics;

    public TimeProvider Time { get; } = time;
}

/// <summary>
/// <c>POST /v1/events</c> and <c>PUT /v1/items</c>: validate, append the valid records to the event log and acknowledge
/// only once they are durable. A partially invalid batch gets 400 with the per-record errors; its valid records are kept
/// (resending the whole batch is safe: events are deduplicated by id, item upserts are idempotent).
/// </summary>
public static class IngestApi
{
    /// <summary>Cap on the body of a batch (10,000 records).</summary>
    public const long MaxBodyBytes = 16 * 1024 * 1024;

    public static IEndpointRouteBuilder MapIngestApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1").WithTags("Ingestion").RequireProducer();
        api.MapPost("/events", PostEventsAsync)
            .WithName("PostEvents")
            .WithSummary("Append a batch of interaction events to the event log")
            .WithMaxRequestBodySize(MaxBodyBytes);
        api.MapPut("/items", PutItemsAsync)
            .WithName("PutItems")
            .WithSummary("Upsert a batch of catalog items through the event log")
            .WithMaxRequestBodySize(MaxBodyBytes);
        return app;
    }

    public static async Task<Results<Ok<EventBatchResponse>, ValidationProblem>> PostEventsAsync(
        EventBatchRequest request, [AsParameters] IngestServices services, CancellationToken cancellationToken)
    {
        if (BatchValidator.CheckBatchSize(request.Events?.Count, "events") is { } sizeError)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["events"] = [sizeError] });
        }

        var events = request.Events!;
        var now = services.Time.GetUtcNow();
        var records = new List<LogRecord>(events.Count);
        var errors = new List<EventError>();
        for (var i = 0; i < events.Count; i++)
        {
            if (BatchValidator.Validate(events[i], now, out var valid) is { } error)
            {
                errors.Add(new EventError(i, events[i]?.EventId, error));
            }
            else
            {
                records.Add(new EventRecord(valid!));
            }
        }

        var position = await AppendAsync(services.Log, records, "events", cancellationToken);
        services.Metrics.EventsAccepted(records.Count, errors.Count);
        if (errors.Count == 0)
        {
            return TypedResults.Ok(new EventBatchResponse(records.Count, 0, [], position));
        }

        return TypedResults.ValidationProblem(
            errors.ToDictionary(e => $"events[{e.Index}]", e => new[] { e.Error }),
            detail: $"{records.Count} of {events.Count} events were accepted and appended; {errors.Count} were rejected.",
            title: "Some events were rejected.",
            extensions: new Dictionary<string, object?>
            {
                ["accepted"] = records.Count,
                ["rejected"] = errors.Count,
                ["logPosition"] = position,
                ["eventErrors"] = errors,
            });
    }

    public static async Task<Results<Ok<ItemBatchResponse>, ValidationProblem>> PutItemsAsync(
        ItemBatchRequest request, [AsParameters] IngestServices services, CancellationToken cancellationToken)
    {
        if (BatchValidator.CheckBatchSize(request.Items?.Count, "items") is { } sizeError)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["items"] = [sizeError] });
        }

        var items = request.Items!;
        var records = new List<LogRecord>(items.Count);
        var errors = new List<ItemError>();
        for (var i = 0; i < items.Count; i++)
        {
            if (BatchValidator.Validate(items[i], out var valid) is { } error)
            {
                errors.Add(new ItemError(i, items[i]?.Id, error));
            }
            else
            {
                records.Add(new ItemUpsertRecord(valid!));
            }
        }

        var position = await AppendAsync(services.Log, records, "items", cancellationToken);
        services.Metrics.ItemsAccepted(records.Count, errors.Count);
        if (errors.Count == 0)
        {
            return TypedResults.Ok(new ItemBatchResponse(records.Count, 0, []));
        }

        return TypedResults.ValidationProblem(
            errors.ToDictionary(e => $"items[{e.Index}]", e => new[] { e.Error }),
            detail: $"{records.Count} of {items.Count} items were accepted and appended; {errors.Count} were rejected.",
            title: "Some items were rejected.",
            extensions: new Dictionary<string, object?>
            {
                ["accepted"] = records.Count,
                ["upserted"] = records.Count,
                ["rejected"] = errors.Count,
                ["logPosition"] = position,
                ["itemErrors"] = errors,
            });
    }

    private static async Task<long> AppendAsync(IEventLog log, List<LogRecord> records, string kind, CancellationToken cancellationToken)
    {
        if (records.Count == 0)
        {
            return log.TailPosition;
        }

        using var activity = FeatureStoreTelemetry.ActivitySource.StartActivity("append");
        activity?.SetTag("recsys.records.kind", kind);
        activity?.SetTag("recsys.records.count", records.Count);
        var position = await log.AppendAsync(records, cancellationToken);
        activity?.SetTag("recsys.log.position", position);
        return position;
    }
}
