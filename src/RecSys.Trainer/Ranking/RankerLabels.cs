using RecSys.Core.Domain;

namespace RecSys.Trainer.Ranking;

/// <summary>Where a label comes from; it sets the label and the base weight.</summary>
public enum LabelKind
{
    /// <summary>Click, like, purchase, rating of 4 or more (of 5): positive.</summary>
    Engaged,

    /// <summary>View, or rating below 4: the user chose and consumed the item; positive, with a lower weight.</summary>
    Consumed,

    /// <summary>Impression with no engagement with the item by the user within the attribution window: negative.</summary>
    ShownNotEngaged,

    /// <summary>A candidate the system would have shown (retrieval output at the request) the user did not engage with: negative.</summary>
    SampledNegative,
}

/// <summary>A training label: (user, item) at an event time, 1 or 0, with its sample weight.</summary>
public sealed record RankerLabel(string UserId, string ItemId, long EventTimeMs, float Label, float Weight, LabelKind Kind);

/// <summary>
/// How events become labels and weights. Weight = base weight of the kind x 2^(-(reference - event time) / half-life), the
/// reference being the latest label time (so the freshest labels count fully); a zero half-life turns the decay off.
/// </summary>
public sealed record LabelPolicy
{
    public float EngagedWeight { get; init; } = 1f;

    public float ConsumedWeight { get; init; } = 0.5f;

    public float ShownNotEngagedWeight { get; init; } = 1f;

    public float SampledNegativeWeight { get; init; } = 1f;

    /// <summary>Age at which a label counts half.</summary>
    public TimeSpan HalfLife { get; init; } = TimeSpan.Zero;

    /// <summary>An impression followed by an engagement with the same item within this time is not a negative.</summary>
    public TimeSpan AttributionWindow { get; init; } = TimeSpan.FromMinutes(30);

    public void Validate()
    {
        if (!(EngagedWeight > 0 && ConsumedWeight >= 0 && ShownNotEngagedWeight > 0 && SampledNegativeWeight > 0))
        {
            throw new ArgumentException("Label weights must be positive (the consumed weight may be 0 to leave consumption out).");
        }

        if (HalfLife < TimeSpan.Zero || AttributionWindow < TimeSpan.Zero)
        {
            throw new ArgumentException("The half-life and the attribution window must not be negative.");
        }
    }

    public float BaseWeight(LabelKind kind) => kind switch
    {
        LabelKind.Engaged => EngagedWeight,
        LabelKind.Consumed => ConsumedWeight,
        LabelKind.ShownNotEngaged => ShownNotEngagedWeight,
        _ => SampledNegativeWeight,
    };

    public float Decay(long eventTimeMs, long referenceMs) =>
        HalfLife <= TimeSpan.Zero ? 1f : (float)Math.Pow(2, -Math.Max(0, referenceMs - eventTimeMs) / HalfLife.TotalMilliseconds);
}

/// <summary>Labels from the event log: positives by event type, negatives from impressions without engagement.</summary>
internal static class RankerLabeler
{
    /// <summary>The kind of a positive event, or null for events that are not one (impressions, follows, events without an item).</summary>
    public static LabelKind? PositiveKind(EventType type, double? value) => type switch
    {
        EventType.Click or EventType.Like or EventType.Purchase => LabelKind.Engaged,
        EventType.Rating => value is >= 4 ? LabelKind.Engaged : LabelKind.Consumed,
        EventType.View => LabelKind.Consumed,
        _ => null,
    };

    /// <summary>
    /// One label per positive event and per impression not followed, within the attribution window, by a positive event of the
    /// same user on the same item; consumed labels are dropped when their weight is 0. Sorted by event time (then input order).
    /// </summary>
    public static List<RankerLabel> FromEvents(IReadOnlyList<(HistoryEvent Event, double? Value)> events, LabelPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(policy);
        policy.Validate();
        var positivesByPair = new Dictionary<(string, string), List<long>>();
        foreach (var (e, value) in events)
        {
            if (e.ItemId is { } item && PositiveKind(e.Type, value) is not null)
            {
                if (!positivesByPair.TryGetValue((e.UserId, item), out var times))
                {
                    positivesByPair[(e.UserId, item)] = times = [];
                }

                times.Add(e.TimeMs);
            }
        }

        var window = (long)policy.AttributionWindow.TotalMilliseconds;
        var raw = new List<(HistoryEvent Event, LabelKind Kind)>();
        foreach (var (e, value) in events)
        {
            if (e.ItemId is null)
            {
                continue;
            }

            if (PositiveKind(e.Type, value) is { } kind)
            {
                if (policy.BaseWeight(kind) > 0)
                {
                    raw.Add((e, kind));
                }
            }
            else if (e.Type == EventType.Impression)
            {
                var engaged = positivesByPair.TryGetValue((e.UserId, e.ItemId), out var times)
                    && times.Any(t => t >= e.TimeMs && t <= e.TimeMs + window);
                if (!engaged)
                {
                    raw.Add((e, LabelKind.ShownNotEngaged));
                }
            }
        }

        if (raw.Count == 0)
        {
            return [];
        }

        var reference = raw.Max(r => r.Event.TimeMs);
        return
        [
            .. raw.Select((r, i) => (r, i))
                .OrderBy(p => p.r.Event.TimeMs).ThenBy(p => p.i)
                .Select(p => new RankerLabel(p.r.Event.UserId, p.r.Event.ItemId!, p.r.Event.TimeMs,
                    p.r.Kind is LabelKind.Engaged or LabelKind.Consumed ? 1f : 0f,
                    policy.BaseWeight(p.r.Kind) * policy.Decay(p.r.Event.TimeMs, reference), p.r.Kind)),
        ];
    }
}
