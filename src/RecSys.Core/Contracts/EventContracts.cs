using RecSys.Core.Domain;

namespace RecSys.Core.Contracts;

/// <summary>Body of <c>POST /v1/events</c>. Fields are nullable so that validation, not the JSON reader, reports what is missing.</summary>
public sealed record EventBatchRequest(IReadOnlyList<EventDto?>? Events);

/// <summary>One event on the wire. <see cref="Type"/> is a string so that an unknown type is reported per event.</summary>
public sealed record EventDto(
    string? EventId,
    string? UserId,
    string? ItemId,
    string? CreatorId,
    string? Type,
    double? Value,
    DateTimeOffset? EventTime)
{
    /// <summary>
    /// The recommendation request that showed the item (optional): impressions logged by Ranking carry it, and a client that
    /// echoes it on a click lets the click be joined to the list and the model version that served it.
    /// </summary>
    public string? RequestId { get; init; }

    /// <summary>The ranker release that served the list (optional; set on Ranking's impressions).</summary>
    public string? ModelVersion { get; init; }
}

/// <summary>Why one event of a batch was refused.</summary>
public sealed record EventError(int Index, string? EventId, string Error);

/// <summary>Reply to <c>POST /v1/events</c>: the accepted events are durable in the event log when this is sent.</summary>
public sealed record EventBatchResponse(int Accepted, int Rejected, IReadOnlyList<EventError> Errors, long LogPosition);

/// <summary>Body of <c>PUT /v1/items</c>.</summary>
public sealed record ItemBatchRequest(IReadOnlyList<ItemDto?>? Items);

public sealed record ItemDto(
    string? Id,
    string? CreatorId,
    IReadOnlyList<string>? Categories,
    IReadOnlyList<string>? Tags,
    DateTimeOffset? CreatedAt,
    bool? Available,
    string? Title);

public sealed record ItemError(int Index, string? ItemId, string Error);

public sealed record ItemBatchResponse(int Upserted, int Rejected, IReadOnlyList<ItemError> Errors);

/// <summary>Reply to <c>GET /v1/features/online</c>.</summary>
public sealed record OnlineFeaturesResponse(IReadOnlyList<EntityFeatures> Entities);

public sealed record EntityFeatures(string Entity, IReadOnlyDictionary<string, FeatureValueDto> Features);

/// <summary>
/// A served feature value: a number, an id list or a vector by the feature's value type. <see cref="IsDefault"/>: the
/// store had none (or it was older than the feature's TTL) and the definition's default was served; <see cref="IsStale"/>:
/// older than the feature's freshness requirement, served anyway.
/// </summary>
public sealed record FeatureValueDto(
    double? Number,
    IReadOnlyList<string>? Ids,
    IReadOnlyList<float>? Vector,
    DateTimeOffset? EventTime,
    bool IsDefault,
    bool IsStale);

/// <summary>Reply to <c>GET /v1/status</c> of the FeatureServer.</summary>
public sealed record FeatureServerStatus(long Items, long LogTail, long ProcessedPosition, long EventsApplied, long DuplicatesSkipped);

public static class EventDtoMapping
{
    public static EventDto ToDto(this InteractionEvent e) =>
        new(e.EventId, e.UserId, e.ItemId, e.CreatorId, e.Type.WireName(), e.Value, e.EventTime) { RequestId = e.RequestId, ModelVersion = e.ModelVersion };

    public static ItemDto ToDto(this CatalogItem i) =>
        new(i.Id, i.CreatorId, i.Categories, i.Tags, i.CreatedAt, i.Available, i.Title);
}
