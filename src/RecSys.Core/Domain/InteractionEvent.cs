namespace RecSys.Core.Domain;

/// <summary>One user interaction, as accepted by the event log.</summary>
/// <param name="EventId">Caller-chosen unique id; a redelivered event with the same id is applied once.</param>
/// <param name="UserId">The acting user.</param>
/// <param name="ItemId">The item acted on; absent for <see cref="EventType.Follow"/>.</param>
/// <param name="CreatorId">The creator followed (for <see cref="EventType.Follow"/>).</param>
/// <param name="Type">What happened.</param>
/// <param name="Value">Optional value: the rating, a watch fraction, a price.</param>
/// <param name="EventTime">When it happened (event time, not arrival time).</param>
public sealed record InteractionEvent(
    string EventId,
    string UserId,
    string? ItemId,
    string? CreatorId,
    EventType Type,
    double? Value,
    DateTimeOffset EventTime)
{
    /// <summary>The recommendation request that showed the item, when known (absent in records logged before it existed).</summary>
    public string? RequestId { get; init; }

    /// <summary>The ranker release that served the list, on Ranking's impressions.</summary>
    public string? ModelVersion { get; init; }
}
