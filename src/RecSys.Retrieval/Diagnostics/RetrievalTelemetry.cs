using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace RecSys.Retrieval.Diagnostics;

/// <summary>The Retrieval component's meter and activity source (both named <c>RecSys.Retrieval</c>).</summary>
public sealed class RetrievalTelemetry
{
    public const string Name = "RecSys.Retrieval";

    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly Histogram<double> _sourceDuration;
    private readonly Counter<long> _sourceFailures;
    private readonly Histogram<double> _requestDuration;
    private readonly Counter<long> _candidatesReturned;

    public RetrievalTelemetry(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(Name);
        _sourceDuration = meter.CreateHistogram(
            "recsys.retrieval.source.duration",
            unit: "ms",
            description: "Time one candidate source took for one request.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 100, 250, 500, 1000] });
        _sourceFailures = meter.CreateCounter<long>(
            "recsys.retrieval.source.failures",
            unit: "{failure}",
            description: "Candidate source calls that failed or timed out.");
        _requestDuration = meter.CreateHistogram(
            "recsys.retrieval.request.duration",
            unit: "ms",
            description: "Time to produce one candidate list.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.5, 1, 2, 4, 8, 16, 32, 64, 100, 250, 500, 1000] });
        _candidatesReturned = meter.CreateCounter<long>(
            "recsys.retrieval.candidates",
            unit: "{candidate}",
            description: "Candidates returned to callers.");
    }

    public void SourceCompleted(string source, double elapsedMs, string outcome) =>
        _sourceDuration.Record(elapsedMs, new KeyValuePair<string, object?>("source", source), new KeyValuePair<string, object?>("outcome", outcome));

    public void SourceFailed(string source, string reason) =>
        _sourceFailures.Add(1, new KeyValuePair<string, object?>("source", source), new KeyValuePair<string, object?>("reason", reason));

    public void RequestCompleted(double elapsedMs, int candidates, bool degraded)
    {
        _requestDuration.Record(elapsedMs, new KeyValuePair<string, object?>("degraded", degraded));
        _candidatesReturned.Add(candidates);
    }
}
