using System.Text.Json.Serialization;

namespace RecSys.Core.Domain;

/// <summary>Kinds of user interaction accepted by <c>POST /v1/events</c>.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<EventType>))]
public enum EventType
{
    Impression,
    View,
    Click,
    Like,
    Rating,
    Purchase,
    Follow,
}

public static class EventTypes
{
    /// <summary>Parses the wire name (case-insensitive) of an event type.</summary>
    public static bool TryParse(string? value, out EventType type)
    {
        type = default;
        return !string.IsNullOrWhiteSpace(value)
            && !int.TryParse(value, out _)
            && Enum.TryParse(value, ignoreCase: true, out type)
            && Enum.IsDefined(type);
    }

    public static string WireName(this EventType type) => type switch
    {
        EventType.Impression => "impression",
        EventType.View => "view",
        EventType.Click => "click",
        EventType.Like => "like",
        EventType.Rating => "rating",
        EventType.Purchase => "purchase",
        EventType.Follow => "follow",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    /// <summary>Follows target a creator; every other type targets an item.</summary>
    public static bool TargetsCreator(this EventType type) => type == EventType.Follow;

    /// <summary>
    /// Strength of the interest an event shows, used by popularity, co-occurrence and affinity.
    /// Impressions show none; a rating shows interest in proportion to how far it is above the middle of a 0.5-5 scale.
    /// </summary>
    public static double EngagementWeight(EventType type, double? value) => type switch
    {
        EventType.Impression => 0,
        EventType.View => 1,
        EventType.Click => 2,
        EventType.Like => 3,
        EventType.Purchase => 5,
        EventType.Follow => 0,
        EventType.Rating => value switch
        {
            null => 1,
            >= 4.5 => 4,
            >= 4 => 3,
            >= 3 => 1,
            _ => 0,
        },
        _ => 0,
    };

    /// <summary>True when the event means the user has consumed the item and should not be shown it again.</summary>
    public static bool MarksSeen(EventType type) => type is not EventType.Impression and not EventType.Follow;
}
