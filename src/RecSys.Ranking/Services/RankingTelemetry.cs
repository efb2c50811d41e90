using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace RecSys.Ranking.Services;

/// <summary>
/// The Ranking service's one meter and one activity source (both named <c>RecSys.Ranking</c>). Durations are recorded in
/// seconds (OpenTelemetry semantic conventions); the names are listed in docs/telemetry.md.
/// </summary>
public sealed class RankingTelemetry
{
    public const string Name = "RecSys.Ranking";

    public static readonly ActivitySource ActivitySource = new(Name);

    // A request waits for Retrieval (2 s timeout by default) and usually answers within tens of milliseconds.
    private static readonly double[] DurationBuckets = [0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1, 2];

    // Counts up to Ranking:MaxCount (at most 500).
    private static readonly int[] ItemBuckets = [0, 1, 5, 10, 20, 50, 100, 200, 500];

    private readonly Histogram<double> _duration;
    private readonly Counter<long> _requests;
    private readonly Counter<long> _degraded;
    private readonly Histogram<int> _returned;

    public RankingTelemetry(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        var meter = meterFactory.Create(Name);
        _duration = meter.CreateHistogram(
            "recsys.recommendations.duration", unit: "s", description: "Time to answer /v1/recommendations.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _requests = meter.CreateCounter<long>("recsys.recommendations.requests", unit: "{request}", description: "Recommendation requests answered.");
        _degraded = meter.CreateCounter<long>(
            "recsys.recommendations.degraded", unit: "{request}", description: "Requests answered with a degraded stage.");
        _returned = meter.CreateHistogram(
            "recsys.recommendations.items", unit: "{item}", description: "Items returned per request.",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = ItemBuckets });
    }

    public void RecordRequest(TimeSpan elapsed, int items, bool degraded)
    {
        _duration.Record(elapsed.TotalSeconds);
        _requests.Add(1);
        _returned.Record(items);
        if (degraded)
        {
            _degraded.Add(1);
        }
    }
}
