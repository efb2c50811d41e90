using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>Meter and ActivitySource <c>RecSys.Retrieval.VectorIndex</c>.</summary>
public sealed class VectorIndexTelemetry
{
    public const string Name = "RecSys.Retrieval.VectorIndex";

    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly Histogram<double> _searchDuration;
    private readonly Histogram<double> _coverage;
    private readonly Counter<long> _snapshotsRejected;
    private readonly Counter<long> _rebuilds;
    private readonly Counter<long> _applied;
    private Func<VectorIndexManager?> _manager = () => null;

    public VectorIndexTelemetry(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(Name);
        _searchDuration = meter.CreateHistogram<double>(
            "recsys.vector_index.search.duration", "ms", "Time of one sharded search (scatter-gather and merge).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 250, 1000] });
        _coverage = meter.CreateHistogram<double>(
            "recsys.vector_index.search.coverage", "{ratio}", "Fraction of shards that answered a search.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.25, 0.5, 0.75, 0.99, 1] });
        _snapshotsRejected = meter.CreateCounter<long>(
            "recsys.vector_index.snapshots.rejected", "{snapshot}", "Snapshots rejected at load (checksum or format) and rolled back.");
        _rebuilds = meter.CreateCounter<long>("recsys.vector_index.rebuilds", "{rebuild}", "Full rebuilds by outcome.");
        _applied = meter.CreateCounter<long>("recsys.vector_index.writes.applied", "{item}", "Adds, updates and deletes applied to the shards.");
        meter.CreateObservableGauge("recsys.vector_index.version", () => _manager()?.Version ?? 0, "{version}", "Live index version.");
        meter.CreateObservableGauge("recsys.vector_index.vectors", ObserveVectors, "{vector}", "Live vectors per shard.");
        meter.CreateObservableGauge("recsys.vector_index.deleted", ObserveDeleted, "{vector}", "Soft-deleted vectors per shard, dropped at the next rebuild.");
        meter.CreateObservableGauge("recsys.vector_index.pending", () => _manager()?.PendingWrites ?? 0, "{item}", "Writes queued for the next incremental update.");
    }

    internal void Attach(VectorIndexManager manager) => _manager = () => manager;

    public void SearchCompleted(double elapsedMs, double coverage)
    {
        _searchDuration.Record(elapsedMs);
        _coverage.Record(coverage);
    }

    public void SnapshotRejected(int shard) => _snapshotsRejected.Add(1, new KeyValuePair<string, object?>("recsys.shard", shard));

    public void RebuildCompleted(string outcome) => _rebuilds.Add(1, new KeyValuePair<string, object?>("recsys.outcome", outcome));

    public void Applied(string operation, int count) => _applied.Add(count, new KeyValuePair<string, object?>("recsys.operation", operation));

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
