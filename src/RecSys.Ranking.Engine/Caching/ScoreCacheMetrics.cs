using System.Diagnostics.Metrics;

namespace RecSys.Ranking.Caching;

/// <summary>The score cache's instruments on the <c>RecSys.Ranking</c> meter.</summary>
internal sealed class ScoreCacheMetrics : IDisposable
{
    public const string MeterName = "RecSys.Ranking";
    public const string ResultTag = "recsys.score_cache.result";
    public const string ReasonTag = "recsys.score_cache.reason";

    private static readonly KeyValuePair<string, object?> Hit = new(ResultTag, "hit");
    private static readonly KeyValuePair<string, object?> Miss = new(ResultTag, "miss");
    private static readonly KeyValuePair<string, object?> Expired = new(ReasonTag, "expired");
    private static readonly KeyValuePair<string, object?> Capacity = new(ReasonTag, "capacity");

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _lookups;
    private readonly Counter<long> _evictions;
    private long _hits;
    private long _misses;

    public ScoreCacheMetrics(IMeterFactory? meterFactory, Func<long> entries)
    {
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _lookups = _meter.CreateCounter<long>("recsys.score_cache.lookups", "{item}", "Item scores looked up in the score cache (tag result: hit or miss)");
        _evictions = _meter.CreateCounter<long>("recsys.score_cache.evictions", "{item}", "Scores evicted to make room (tag reason: expired or capacity)");
        _meter.CreateObservableGauge("recsys.score_cache.hit_ratio", () => HitRatio, "1", "Hits over lookups since the cache started");
        _meter.CreateObservableUpDownCounter("recsys.score_cache.entries", entries, "{item}", "Scores held, expired ones not yet evicted included");
    }

    public long Hits => Interlocked.Read(ref _hits);

    public long Misses => Interlocked.Read(ref _misses);

    public double HitRatio
    {
        get
        {
            var hits = Hits;
            var total = hits + Misses;
            return total == 0 ? 0 : (double)hits / total;
        }
    }

    public void Looked(int hits, int misses)
    {
        if (hits > 0)
        {
            Interlocked.Add(ref _hits, hits);
            _lookups.Add(hits, Hit);
        }

        if (misses > 0)
        {
            Interlocked.Add(ref _misses, misses);
            _lookups.Add(misses, Miss);
        }
    }

    public void Evicted(int expired, int forCapacity)
    {
        if (expired > 0)
        {
            _evictions.Add(expired, Expired);
        }

        if (forCapacity > 0)
        {
            _evictions.Add(forCapacity, Capacity);
        }
    }

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
