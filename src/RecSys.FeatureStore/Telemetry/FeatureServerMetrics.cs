using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace RecSys.FeatureStore.Telemetry;

/// <summary>Live numbers of the stream processor that the metrics and <c>/v1/status</c> read.</summary>
public sealed class ProcessorState
{
    private long _position;
    private long _tail;
    private bool _active;

    /// <summary>Log position up to which records are applied.</summary>
    public long Position
    {
        get => Interlocked.Read(ref _position);
        set => Interlocked.Exchange(ref _position, value);
    }

    /// <summary>Whether this instance's processor holds the lease and applies (false while it stands by).</summary>
    public bool Active
    {
        get => Volatile.Read(ref _active);
        set => Volatile.Write(ref _active, value);
    }

    /// <summary>The log tail last seen by the processor.</summary>
    public long Tail
    {
        get => Interlocked.Read(ref _tail);
        set => Interlocked.Exchange(ref _tail, value);
    }
}

/// <summary>The Meter and ActivitySource <c>RecSys.FeatureServer</c>.</summary>
public sealed class FeatureServerMetrics
{
    public const string Name = "RecSys.FeatureServer";

    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly Counter<long> _eventsAccepted;
    private readonly Counter<long> _eventsRejected;
    private readonly Counter<long> _itemsAccepted;
    private readonly Counter<long> _itemsRejected;
    private readonly Counter<long> _recordsApplied;
    private readonly Counter<long> _eventsApplied;
    private readonly Counter<long> _duplicatesSkipped;
    private readonly Counter<long> _rebases;
    private readonly Histogram<double> _applyDuration;

    public FeatureServerMetrics(IMeterFactory meterFactory, ProcessorState state)
    {
        var meter = meterFactory.Create(Name);
        _eventsAccepted = meter.CreateCounter<long>("recsys.featureserver.events.accepted", "{event}", "Events appended to the event log.");
        _eventsRejected = meter.CreateCounter<long>("recsys.featureserver.events.rejected", "{event}", "Events refused by validation.");
        _itemsAccepted = meter.CreateCounter<long>("recsys.featureserver.items.accepted", "{item}", "Item upserts appended to the event log.");
        _itemsRejected = meter.CreateCounter<long>("recsys.featureserver.items.rejected", "{item}", "Item upserts refused by validation.");
        _recordsApplied = meter.CreateCounter<long>("recsys.featureserver.records.applied", "{record}", "Log records applied to the online store.");
        _eventsApplied = meter.CreateCounter<long>("recsys.featureserver.events.applied", "{event}", "Events applied to the online store (first delivery).");
        _duplicatesSkipped = meter.CreateCounter<long>("recsys.featureserver.duplicates.skipped", "{event}", "Redelivered events skipped by the dedupe marker.");
        _rebases = meter.CreateCounter<long>("recsys.featureserver.popularity.rebases", "{rebase}", "Moves of the decayed popularity epoch.");
        _applyDuration = meter.CreateHistogram(
            "recsys.featureserver.apply.batch.duration",
            "s",
            "Time to apply one batch of log records to the online store.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] });
        meter.CreateObservableGauge(
            "recsys.featureserver.processor.lag",
            () => Math.Max(0, state.Tail - state.Position),
            "{position}",
            "Log positions committed but not yet applied (tail minus processor position; bytes for the embedded log).");
    }

    public void Accepted(int events, int rejected)
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

    public void ApplyDuration(TimeSpan elapsed) => _applyDuration.Record(elapsed.TotalSeconds);
}
