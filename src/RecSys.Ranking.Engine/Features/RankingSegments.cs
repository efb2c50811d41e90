using RecSys.Learning.Ranking;

namespace RecSys.Ranking.Features;

/// <summary>
/// The calibration segment of a request (<see cref="SegmentKey"/>): its context as a small integer and the user's activity
/// bucket, computed the same way when calibration is fitted (Trainer) and applied (serving).
/// </summary>
public static class RankingSegments
{
    /// <summary>Known contexts in code order; anything else (and no context) is <see cref="OtherContext"/>.</summary>
    public static IReadOnlyList<string> Contexts { get; } = ["home", "item", "search", "category"];

    public const int OtherContext = 4;

    /// <summary>Upper bounds (exclusive) of the activity buckets by the user's all-time event count: 0-9, 10-99, 100-999, 1000+.</summary>
    public static IReadOnlyList<double> ActivityBounds { get; } = [10, 100, 1_000];

    public static int ContextCode(string? context)
    {
        if (string.IsNullOrWhiteSpace(context))
        {
            return OtherContext;
        }

        for (var i = 0; i < Contexts.Count; i++)
        {
            if (string.Equals(Contexts[i], context, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return OtherContext;
    }

    public static int ActivityBucket(double userEvents)
    {
        var bucket = 0;
        while (bucket < ActivityBounds.Count && userEvents >= ActivityBounds[bucket])
        {
            bucket++;
        }

        return bucket;
    }

    public static SegmentKey Of(RankingRequestValues request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.User.TryNumber(RankingFeatureCatalog.UserEventsTotal, out var events);
        return new SegmentKey(ContextCode(request.Context), ActivityBucket(events));
    }
}
