using System.Collections.Concurrent;

namespace RecSys.FeatureStore.OnlineStores;

/// <summary>
/// In-process cache of served values per (entity, feature) with a TTL and a bound on entries. When full, expired entries
/// are swept; if it is still full, new values are not cached until entries expire (reads never wait on the sweep).
/// </summary>
public sealed class FeatureL1Cache(TimeSpan ttl, int maxEntries, TimeProvider time)
{
    private readonly ConcurrentDictionary<(string Entity, string Feature), (FeatureValue Value, long Expires)> _entries = new();
    private readonly long _ttlTicks = (long)(ttl.TotalSeconds * time.TimestampFrequency);
    private int _sweeping;

    public bool Enabled => _ttlTicks > 0;

    public int Count => _entries.Count;

    public bool TryGet(string entity, string feature, out FeatureValue value)
    {
        if (_entries.TryGetValue((entity, feature), out var entry) && entry.Expires > time.GetTimestamp())
        {
            value = entry.Value;
            return true;
        }

        value = default;
        return false;
    }

    public void Set(string entity, string feature, FeatureValue value)
    {
        var now = time.GetTimestamp();
        if (_entries.Count >= maxEntries && !_entries.ContainsKey((entity, feature)))
        {
            Sweep(now);
            if (_entries.Count >= maxEntries)
            {
                return;
            }
        }

        _entries[(entity, feature)] = (value, now + _ttlTicks);
    }

    private void Sweep(long now)
    {
        if (Interlocked.Exchange(ref _sweeping, 1) == 1)
        {
            return;
        }

        try
        {
            foreach (var (key, entry) in _entries)
            {
                if (entry.Expires <= now)
                {
                    _entries.TryRemove(key, out _);
                }
            }
        }
        finally
        {
            Volatile.Write(ref _sweeping, 0);
        }
    }
}
