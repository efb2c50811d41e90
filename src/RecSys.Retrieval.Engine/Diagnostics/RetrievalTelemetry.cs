using System.Diagnostics;
using System.Diagnostics.Metrics;
using RecSys.Retrieval.VectorIndex;

namespace RecSys.Retrieval.Diagnostics;

/// <summary>
/// The Retrieval service's one meter and one activity source (both named <c>RecSys.Retrieval</c>): candidate generation and the
/// vector index. Durations are recorded in seconds (OpenTelemetry semantic conventions); the names are listed in docs/telemetry.md.
/// </summary>
public sealed class RetrievalTelemetry
{
    public const string Name = "RecSys.Retrieval";

    public static readonly ActivitySource ActivitySource = new(Name);

    // Candidate sources answer in a few milliseconds and time out at 100 ms by default; a whole request within a few times that.
    private static readonly double[] SourceBuckets = [0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.1, 0.25, 0.5, 1];
    private static readonly double[] RequestBuckets = [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.1, 0.25, 0.5, 1];

    // A sharded search is sub-millisecond in memory; the per-shard deadline is 80 ms by default.
    private static readonly double[] SearchBuckets = [0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1];

    private readonly Histogram<double> _sourceDuration;
    private readonly Counter<long> _sourceFailures;
    private readonly Histogram<double> _requestDuration;
    private readonly Counter<long> _candidatesReturned;
    private readonly Histogram<double> _searchDuration;
    private readonly Histogram<double> _searchCoverage;
    private readonly Counter<long> _snapshotsRejected;
    private readonly Counter<long> _rebuilds;
    private readonly Counter<long> _writesApplied;
    private readonly Counter<long> _activations;
    private readonly Histogram<double> _activationRecall;
    private Func<VectorIndexManager?> _manager = () => null;

    public RetrievalTelemetry(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        var meter = meterFactory.Create(Name);
        _sourceDuration = meter.CreateHistogram(
            "recsys.retrieval.source.duration",
            unit: "s",
            description: "Time one candidate source took for one request.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SourceBuckets });
        _sourceFailures = meter.CreateCounter<long>(
            "recsys.retrieval.source.failures",
            unit: "{failure}",
            description: "Candidate source calls that failed or timed out.");
        _requestDuration = meter.CreateHistogram(
            "recsys.retrieval.request.duration",
            unit: "s",
            description: "Time to produce one candidate list.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = RequestBuckets });
        _candidatesReturned = meter.CreateCounter<long>(
            "recsys.retrieval.candidates",
            unit: "{candidate}",
            description: "Candidates returned to callers.");

        _searchDuration = meter.CreateHistogram(
            "recsys.vector_index.search.duration",
            unit: "s",
            description: "Time of one sharded search (scatter-gather and merge).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SearchBuckets });
        _searchCoverage = meter.CreateHistogram(
            "recsys.vector_index.search.coverage",
            unit: "1",
            description: "Fraction of shards that answered a search.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.25, 0.5, 0.75, 0.99, 1] });
        _snapshotsRejected = meter.CreateCounter<long>(
            "recsys.vector_index.snapshots.rejected", "{snapshot}", "Snapshots rejected at load (checksum or format) and rolled back.");
        _rebuilds = meter.CreateCounter<long>("recsys.vector_index.rebuilds", "{rebuild}", "Full rebuilds by outcome.");
        _writesApplied = meter.CreateCounter<long>("recsys.vector_index.writes.applied", "{item}", "Adds, updates and deletes applied to the shards.");
        _activations = meter.CreateCounter<long>("recsys.vector_index.activations", "{activation}", "Embedding version activations and verified rebuilds by outcome (activated, rejected, failed).");
        _activationRecall = meter.CreateHistogram<double>("recsys.vector_index.activation.recall", "1", "Recall@10 of a rebuilt index against brute force, measured before the swap.");
        meter.CreateObservableGauge("recsys.vector_index.version", () => _manager()?.Version ?? 0, "{version}", "Live index version.");
        meter.CreateObservableGauge("recsys.vector_index.vectors", ObserveVectors, "{vector}", "Live vectors per shard.");
        meter.CreateObservableGauge("recsys.vector_index.deleted", ObserveDeleted, "{vector}", "Soft-deleted vectors per shard, dropped at the next rebuild.");
        meter.CreateObservableGauge("recsys.vector_index.pending", () => _manager()?.PendingWrites ?? 0, "{item}", "Writes queued for the next incremental update.");
    }

    public void SourceCompleted(string source, TimeSpan elapsed, string outcome) =>
        _sourceDuration.Record(
            elapsed.TotalSeconds, new KeyValuePair<string, object?>("source", source), new KeyValuePair<string, object?>("outcome", outcome));

    public void SourceFailed(string source, string reason) =>
        _sourceFailures.Add(1, new KeyValuePair<string, object?>("source", source), new KeyValuePair<string, object?>("reason", reason));

    public void RequestCompleted(TimeSpan elapsed, int candidates, bool degraded)
    {
        _requestDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("degraded", degraded));
        _candidatesReturned.Add(candidates);
    }

    /// <summary>The vector index whose sizes the gauges report (the service has one).</summary>
    internal void Attach(VectorIndexManager manager) => _manager = () => manager;

    /// <param name="plan">How the shards answered: <c>hnsw</c>, <c>exact_scan</c> or <c>mixed</c> (see <see cref="RecSys.VectorSearch.ExactScanOptions"/>).</param>
    public void SearchCompleted(TimeSpan elapsed, double coverage, string plan)
    {
        _searchDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("recsys.vector.plan", plan));
        _searchCoverage.Record(coverage);
    }

    public void SnapshotRejected(int shard) => _snapshotsRejected.Add(1, new KeyValuePair<string, object?>("recsys.shard", shard));

    public void ActivationCompleted(string outcome, double? recall)
    {
        _activations.Add(1, new KeyValuePair<string, object?>("recsys.outcome", outcome));
        if (recall is { } r)
        {
            _activationRecall.Record(r, new KeyValuePair<string, object?>("recsys.outcome", outcome));
        }
    }

    public void RebuildCompleted(string outcome) => _rebuilds.Add(1, new KeyValuePair<string, object?>("recsys.outcome", outcome));

    public void Applied(string operation, int count) => _writesApplied.Add(count, new KeyValuePair<string, object?>("recsys.operation", operation));

    private IEnumerable<Measurement<long>> ObserveVectors() => Observe(c => c.Vectors);

    private IEnumerable<Measurement<long>> ObserveDeleted() => Observe(c => c.Deleted);

    private IEnumerable<Measurement<long>> Observe(Func<ShardCounts, long> value)
    {
        if (_manager() is not { } m)
        {
            yield break;
        }

        for (var shard = 0; shard < m.ShardCount; shard++)
        {
            yield return new Measurement<long>(value(m.CountsOf(shard)), new KeyValuePair<string, object?>("recsys.shard", shard));
        }
    }
}
