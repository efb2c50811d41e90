using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace RecSys.FeatureStore.OnlineStores;

/// <summary>Meter and activity source <c>RecSys.OnlineStore</c>: fetches, defaults, stale values, L1 hits.</summary>
public sealed class OnlineStoreMetrics
{
    public const string Name = "RecSys.OnlineStore";

    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly Counter<long> _values;
    private readonly Counter<long> _defaults;
    private readonly Counter<long> _stale;
    private readonly Counter<long> _l1Hits;
    private readonly Counter<long> _writesRefused;
    private readonly Histogram<double> _fetch;

    public OnlineStoreMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(Name);
        _values = meter.CreateCounter<long>("recsys.features.values", "{value}", "Feature values served.");
        _defaults = meter.CreateCounter<long>("recsys.features.defaults", "{value}", "Values served as the default (missing or past TTL).");
        _stale = meter.CreateCounter<long>("recsys.features.stale", "{value}", "Values older than their freshness requirement (still served).");
        _l1Hits = meter.CreateCounter<long>("recsys.features.l1_hits", "{value}", "Values served from the in-process cache.");
        _writesRefused = meter.CreateCounter<long>("recsys.features.writes_refused", "{write}", "Writes refused because the stored value was as new or newer.");
        _fetch = meter.CreateHistogram<double>("recsys.features.fetch.duration", "s", "Duration of one fetch from the online store.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1] });
    }

    public void Served(long values, long defaults, long l1Hits)
    {
        _values.Add(values);
        _defaults.Add(defaults);
        _l1Hits.Add(l1Hits);
    }

    public void Stale(string feature) => _stale.Add(1, new KeyValuePair<string, object?>("recsys.feature", feature));

    public void WritesRefused(int count) => _writesRefused.Add(count);

    public void Fetched(TimeSpan duration) => _fetch.Record(duration.TotalSeconds);
}
