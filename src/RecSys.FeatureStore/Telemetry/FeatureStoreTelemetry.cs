using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace RecSys.FeatureStore.Telemetry;

/// <summary>
/// The feature store's one meter and one activity source (both named <c>RecSys.FeatureStore</c>) for everything the engine
/// records in the FeatureServer: ingestion, the stream processor, online serving, the offline sink and the consistency job.
/// Durations are recorded in seconds (OpenTelemetry semantic conventions); the names are listed in docs/telemetry.md.
/// </summary>
public sealed class FeatureStoreTelemetry
{
    public const string Name = "RecSys.FeatureStore";

    public static readonly ActivitySource ActivitySource = new(Name);

    // A pipelined batch of up to 512 records applies in milliseconds; a slow store takes up to seconds.
    private static readonly double[] ApplyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

    // One fetch is a few pipelined HMGETs on loopback, often below a millisecond.
    private static readonly double[] FetchBuckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1];

    private readonly Counter<long> _eventsAccepted;
    private readonly Counter<long> _eventsRejected;
    private readonly Counter<long> _itemsAccepted;
    private readonly Counter<long> _itemsRejected;
    private readonly Counter<long> _recordsApplied;
    private readonly Counter<long> _eventsApplied;
    private readonly Counter<long> _duplicatesSkipped;
    private readonly Counter<long> _rebases;
    private readonly Histogram<double> _applyDuration;

    private readonly Counter<long> _valuesServed;
    private readonly Counter<long> _defaultsServed;
    private readonly Counter<long> _staleValues;
    private readonly Counter<long> _l1Hits;
    private readonly Counter<long> _writesRefused;
    private readonly Histogram<double> _fetchDuration;

    private readonly Counter<long> _offlineRowsWritten;
    private readonly Counter<long> _offlineFilesWritten;
    private readonly Counter<long> _offlineRowsDropped;

    private readonly Counter<long> _consistencyChecks;
    private readonly Counter<long> _consistencyMismatches;
    private readonly Counter<long> _consistencyReconciled;
    private double _inconsistencyRatio;

    /// <param name="meterFactory">Creates the <c>RecSys.FeatureStore</c> meter.</param>
    /// <param name="processor">The stream processor whose lag is observed; without one (a host that only serves) no lag is reported.</param>
    public FeatureStoreTelemetry(IMeterFactory meterFactory, ProcessorState? processor = null)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        var meter = meterFactory.Create(Name);

        _eventsAccepted = meter.CreateCounter<long>("recsys.featureserver.events.accepted", "{event}", "Events appended to the event log.");
        _eventsRejected = meter.CreateCounter<long>("recsys.featureserver.events.rejected", "{event}", "Events refused by validation.");
        _itemsAccepted = meter.CreateCounter<long>("recsys.featureserver.items.accepted", "{item}", "Item upserts appended to the event log.");
        _itemsRejected = meter.CreateCounter<long>("recsys.featureserver.items.rejected", "{item}", "Item upserts refused by validation.");
        _recordsApplied = meter.CreateCounter<long>("recsys.featureserver.records.applied", "{record}", "Log records applied to the online store.");
        _eventsApplied = meter.CreateCounter<long>(
            "recsys.featureserver.events.applied", "{event}", "Events applied to the online store (first delivery).");
        _duplicatesSkipped = meter.CreateCounter<long>(
            "recsys.featureserver.duplicates.skipped", "{event}", "Redelivered events skipped by the dedupe marker.");
        _rebases = meter.CreateCounter<long>("recsys.featureserver.popularity.rebases", "{rebase}", "Moves of the decayed popularity epoch.");
        _applyDuration = meter.CreateHistogram(
            "recsys.featureserver.apply.batch.duration",
            "s",
            "Time to apply one batch of log records to the online store.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = ApplyBuckets });
        if (processor is not null)
        {
            meter.CreateObservableGauge(
                "recsys.featureserver.processor.lag",
                () => Math.Max(0, processor.Tail - processor.Position),
                "{position}",
                "Log positions committed but not yet applied (tail minus processor position; bytes for the embedded log).");
        }

        _valuesServed = meter.CreateCounter<long>("recsys.features.values", "{value}", "Feature values served.");
        _defaultsServed = meter.CreateCounter<long>("recsys.features.defaults", "{value}", "Values served as the default (missing or past TTL).");
        _staleValues = meter.CreateCounter<long>("recsys.features.stale", "{value}", "Values older than their freshness requirement (still served).");
        _l1Hits = meter.CreateCounter<long>("recsys.features.l1_hits", "{value}", "Values served from the in-process cache.");
        _writesRefused = meter.CreateCounter<long>(
            "recsys.features.writes_refused", "{write}", "Writes refused because the stored value was as new or newer.");
        _fetchDuration = meter.CreateHistogram(
            "recsys.features.fetch.duration",
            "s",
            "Duration of one fetch from the online store.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = FetchBuckets });

        _offlineRowsWritten = meter.CreateCounter<long>("recsys.offline.rows_written", "{row}", "Feature rows written to Parquet.");
        _offlineFilesWritten = meter.CreateCounter<long>("recsys.offline.files_written", "{file}", "Parquet files written.");
        _offlineRowsDropped = meter.CreateCounter<long>("recsys.offline.rows_dropped", "{row}", "Rows the sink refused because its queue was full.");

        _consistencyChecks = meter.CreateCounter<long>("recsys.consistency.checks", "{check}", "Online/offline consistency checks run.");
        _consistencyMismatches = meter.CreateCounter<long>(
            "recsys.consistency.mismatches", "{value}", "Feature values that differed between online and offline.");
        _consistencyReconciled = meter.CreateCounter<long>("recsys.consistency.reconciled", "{value}", "Online values replaced by newer offline ones.");
        meter.CreateObservableGauge(
            "recsys.consistency.inconsistency_ratio",
            () => Volatile.Read(ref _inconsistencyRatio),
            "{value}/{entity}",
            "Inconsistent values per sampled entity in the latest check (alert above FeatureServer:Consistency:AlertRatio).");
    }

    public void EventsAccepted(int events, int rejected)
    {
        _eventsAccepted.Add(events);
        _eventsRejected.Add(rejected);
    }

    public void ItemsAccepted(int items, int rejected)
    {
        _itemsAccepted.Add(items);
        _itemsRejected.Add(rejected);
    }

    public void RecordsApplied(int records, int events, int duplicates)
    {
        _recordsApplied.Add(records);
        _eventsApplied.Add(events);
        _duplicatesSkipped.Add(duplicates);
    }

    public void Rebased(bool moved)
    {
        if (moved)
        {
            _rebases.Add(1);
        }
    }

    public void BatchApplied(TimeSpan elapsed) => _applyDuration.Record(elapsed.TotalSeconds);

    public void FeaturesServed(long values, long defaults, long l1Hits)
    {
        _valuesServed.Add(values);
        _defaultsServed.Add(defaults);
        _l1Hits.Add(l1Hits);
    }

    public void StaleValueServed(string feature) => _staleValues.Add(1, new KeyValuePair<string, object?>("recsys.feature", feature));

    public void FeatureWritesRefused(int count) => _writesRefused.Add(count);

    public void OnlineFetched(TimeSpan elapsed) => _fetchDuration.Record(elapsed.TotalSeconds);

    public void OfflineRowsWritten(int rows, int files)
    {
        _offlineRowsWritten.Add(rows);
        _offlineFilesWritten.Add(files);
    }

    public void OfflineRowsDropped(int rows) => _offlineRowsDropped.Add(rows);

    public void ConsistencyChecked(int mismatches, double ratio)
    {
        _consistencyChecks.Add(1);
        _consistencyMismatches.Add(mismatches);
        Volatile.Write(ref _inconsistencyRatio, ratio);
    }

    public void ConsistencyReconciled(int written) => _consistencyReconciled.Add(written);
}
