using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace RecSys.Ranking.Services;

/// <summary>Metrics and traces of the serving front.</summary>
public sealed class RankingMetrics
{
    public const string Name = "RecSys.Ranking";

    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly Histogram<double> _duration;
    private readonly Counter<long> _requests;
    private readonly Counter<long> _degraded;
    private readonly Histogram<int> _returned;

    public RankingMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(Name);
        _duration = meter.CreateHistogram(
            "recsys.recommendations.duration", unit: "ms", description: "Time to answer /v1/recommendations",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 2, 5, 10, 20, 30, 50, 75, 100, 200, 500, 1000] });
        _requests = meter.CreateCounter<long>("recsys.recommendations.requests", description: "Recommendation requests answered");
        _degraded = meter.CreateCounter<long>("recsys.recommendations.degraded", description: "Requests answered with a degraded stage");
        _returned = meter.CreateHistogram<int>("recsys.recommendations.items", description: "Items returned per request");
    }

    public void RecordRequest(double milliseconds, int items, bool degraded)
    {
        _duration.Record(milliseconds);
        _requests.Add(1);
        _returned.Record(items);
        if (degraded)
        {
            _degraded.Add(1);
        }
    }
}
