using System.Diagnostics.Metrics;
using System.Numerics;
using Microsoft.Extensions.Options;

namespace RecSys.Ranking.Caching;

/// <summary>Counts of a score cache since it started.</summary>
public sealed record ScoreCacheStatistics(long Hits, long Misses, double HitRatio, long Entries);

/// <summary>
/// Main-ranker scores keyed by (user, item, model version, feature-state version), valid for a short time to live and bounded
/// in entries. The table is split in shards, each behind its own lock with a CLOCK eviction over a fixed number of slots, so
/// concurrent requests rarely wait on one another and memory never exceeds <see cref="ScoreCacheOptions.MaxEntries"/>
/// entries. A request looks up all its candidates in one call (<see cref="Lookup"/>), scores only the misses, and stores
/// them in one call (<see cref="Store(ScoreCacheScope, IReadOnlyList{string}, ReadOnlySpan{int}, ReadOnlySpan{float})"/>).
/// </summary>
public sealed class ScoreCache : IDisposable
{
    private const int MinShardCapacity = 16;

    private readonly TimeProvider _time;
    private readonly Shard[] _shards;
    private readonly int _shardMask;
    private readonly long _timeToLiveTicks;
    private readonly bool _enabled;
    private readonly ScoreCacheMetrics _metrics;

    public ScoreCache(IOptions<ScoreCacheOptions> options, TimeProvider timeProvider, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        var settings = options.Value;
        var validation = new ScoreCacheOptionsValidator().Validate(null, settings);
        if (validation.Failed)
        {
            throw new ArgumentException($"Invalid {ScoreCacheOptions.SectionName}: {validation.FailureMessage}", nameof(options));
        }

        _time = timeProvider;
        _enabled = settings.Enabled;
        _timeToLiveTicks = Math.Max(1, (long)(settings.TimeToLive.TotalSeconds * timeProvider.TimestampFrequency));

        // More shards than cores keeps lock waits rare; each keeps at least MinShardCapacity slots so CLOCK has room to work.
        var shardCount = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, Environment.ProcessorCount * 4));
        shardCount = Math.Min(shardCount, 64);
        while (shardCount > 1 && settings.MaxEntries / shardCount < MinShardCapacity)
        {
            shardCount /= 2;
        }

        _shards = new Shard[shardCount];
        _shardMask = shardCount - 1;
        for (var s = 0; s < shardCount; s++)
        {
            // Spread the remainder so that the shard capacities sum to MaxEntries exactly.
            var capacity = (settings.MaxEntries / shardCount) + (s < settings.MaxEntries % shardCount ? 1 : 0);
            _shards[s] = new Shard(capacity);
        }

        _metrics = new ScoreCacheMetrics(meterFactory, () => Count);
    }

    /// <summary>Entries held now, expired ones not yet evicted included.</summary>
    public long Count
    {
        get
        {
            long total = 0;
            foreach (var shard in _shards)
            {
                total += shard.Count;
            }

            return total;
        }
    }

    public ScoreCacheStatistics Statistics => new(_metrics.Hits, _metrics.Misses, _metrics.HitRatio, Count);

    /// <summary>
    /// Looks up the scores of <paramref name="itemIds"/> in <paramref name="scope"/>: a hit's score goes to the same index of
    /// <paramref name="scores"/>; the indices of the misses, ascending, go to the start of <paramref name="missIndices"/>
    /// (their <paramref name="scores"/> are set to NaN). Returns how many missed.
    /// </summary>
    public int Lookup(ScoreCacheScope scope, IReadOnlyList<string> itemIds, Span<float> scores, Span<int> missIndices)
    {
        ArgumentNullException.ThrowIfNull(itemIds);
        CheckScope(scope);
        if (scores.Length < itemIds.Count || missIndices.Length < itemIds.Count)
        {
            throw new ArgumentException($"The score and miss spans must hold {itemIds.Count} values (one per item).");
        }

        var misses = 0;
        if (!_enabled)
        {
            for (var i = 0; i < itemIds.Count; i++)
            {
                scores[i] = float.NaN;
                missIndices[misses++] = i;
            }

            _metrics.Looked(0, misses);
            return misses;
        }

        var scopeHash = ScopeHash(scope);
        var now = _time.GetTimestamp();
        for (var i = 0; i < itemIds.Count; i++)
        {
            var key = new ScoreKey(scope, CheckItem(itemIds[i]), scopeHash);
            if (ShardOf(key).TryGet(key, now, out var score))
            {
                scores[i] = score;
            }
            else
            {
                scores[i] = float.NaN;
                missIndices[misses++] = i;
            }
        }

        _metrics.Looked(itemIds.Count - misses, misses);
        return misses;
    }

    /// <summary>
    /// Stores the scores of some of <paramref name="itemIds"/>: <paramref name="scores"/>[k] is the score of
    /// <c>itemIds[indices[k]]</c>, the layout <see cref="Lookup"/> gives its misses in.
    /// </summary>
    public void Store(ScoreCacheScope scope, IReadOnlyList<string> itemIds, ReadOnlySpan<int> indices, ReadOnlySpan<float> scores)
    {
        ArgumentNullException.ThrowIfNull(itemIds);
        CheckScope(scope);
        if (indices.Length != scores.Length)
        {
            throw new ArgumentException($"{indices.Length} indices but {scores.Length} scores.", nameof(scores));
        }

        for (var k = 0; k < indices.Length; k++)
        {
            if ((uint)indices[k] >= (uint)itemIds.Count)
            {
                throw new ArgumentOutOfRangeException(nameof(indices), $"Index {indices[k]} is outside the {itemIds.Count} items.");
            }

            CheckScore(scores[k], itemIds[indices[k]]);
        }

        if (!_enabled)
        {
            return;
        }

        var scopeHash = ScopeHash(scope);
        var expires = _time.GetTimestamp() + _timeToLiveTicks;
        var now = expires - _timeToLiveTicks;
        int expired = 0, evicted = 0;
        for (var k = 0; k < indices.Length; k++)
        {
            var key = new ScoreKey(scope, CheckItem(itemIds[indices[k]]), scopeHash);
            ShardOf(key).Set(key, scores[k], now, expires, ref expired, ref evicted);
        }

        _metrics.Evicted(expired, evicted);
    }

    /// <summary>Stores one score per item of <paramref name="itemIds"/>, in order.</summary>
    public void Store(ScoreCacheScope scope, IReadOnlyList<string> itemIds, ReadOnlySpan<float> scores)
    {
        ArgumentNullException.ThrowIfNull(itemIds);
        if (scores.Length != itemIds.Count)
        {
            throw new ArgumentException($"{itemIds.Count} items but {scores.Length} scores.", nameof(scores));
        }

        Span<int> all = itemIds.Count <= 1024 ? stackalloc int[itemIds.Count] : new int[itemIds.Count];
        for (var i = 0; i < all.Length; i++)
        {
            all[i] = i;
        }

        Store(scope, itemIds, all, scores);
    }

    public void Dispose() => _metrics.Dispose();

    private Shard ShardOf(in ScoreKey key) => _shards[key.Hash & _shardMask];

    private static int ScopeHash(ScoreCacheScope scope) =>
        HashCode.Combine(scope.UserId.GetHashCode(StringComparison.Ordinal), scope.ModelVersion.GetHashCode(StringComparison.Ordinal),
            scope.FeatureStateVersion.GetHashCode(StringComparison.Ordinal));

    private static void CheckScope(ScoreCacheScope scope)
    {
        if (!scope.IsValid)
        {
            throw new ArgumentException("The cache scope is empty (default); build it with a user, a model version and a feature-state version.", nameof(scope));
        }
    }

    private static string CheckItem(string? itemId) =>
        string.IsNullOrEmpty(itemId) ? throw new ArgumentException("An item id is null or empty.", nameof(itemId)) : itemId;

    private static void CheckScore(float score, string itemId)
    {
        if (!float.IsFinite(score))
        {
            throw new ArgumentException($"The score of item '{itemId}' is {score}; only finite scores are cached.", nameof(score));
        }
    }

    /// <summary>A cache key with its hash computed once (the scope's part once per batch).</summary>
    private readonly struct ScoreKey(ScoreCacheScope scope, string itemId, int scopeHash) : IEquatable<ScoreKey>
    {
        public readonly ScoreCacheScope Scope = scope;
        public readonly string ItemId = itemId;
        public readonly int Hash = HashCode.Combine(scopeHash, itemId.GetHashCode(StringComparison.Ordinal));

        public bool Equals(ScoreKey other) =>
            Hash == other.Hash
            && string.Equals(ItemId, other.ItemId, StringComparison.Ordinal)
            && string.Equals(Scope.UserId, other.Scope.UserId, StringComparison.Ordinal)
            && string.Equals(Scope.ModelVersion, other.Scope.ModelVersion, StringComparison.Ordinal)
            && string.Equals(Scope.FeatureStateVersion, other.Scope.FeatureStateVersion, StringComparison.Ordinal);

        public override bool Equals(object? obj) => obj is ScoreKey other && Equals(other);

        public override int GetHashCode() => Hash;
    }

    /// <summary>
    /// One lock's worth of entries in slot arrays (grown up to the capacity, never beyond). Eviction is CLOCK: a hit marks
    /// its slot referenced; the hand clears marks as it passes and takes the first expired or unmarked slot.
    /// </summary>
    private sealed class Shard(int capacity)
    {
        private readonly Lock _gate = new();
        private readonly Dictionary<ScoreKey, int> _slots = new(Math.Min(capacity, 64));
        private readonly int _capacity = capacity;
        private ScoreKey[] _keys = new ScoreKey[Math.Min(capacity, 64)];
        private float[] _scores = new float[Math.Min(capacity, 64)];
        private long[] _expires = new long[Math.Min(capacity, 64)];
        private bool[] _referenced = new bool[Math.Min(capacity, 64)];
        private int _used;
        private int _hand;

        public int Count => Volatile.Read(ref _used);

        public bool TryGet(in ScoreKey key, long now, out float score)
        {
            lock (_gate)
            {
                if (_slots.TryGetValue(key, out var slot) && _expires[slot] > now)
                {
                    _referenced[slot] = true;
                    score = _scores[slot];
                    return true;
                }
            }

            score = float.NaN;
            return false;
        }

        public void Set(in ScoreKey key, float score, long now, long expires, ref int expired, ref int evicted)
        {
            lock (_gate)
            {
                if (!_slots.TryGetValue(key, out var slot))
                {
                    if (_used < _capacity)
                    {
                        slot = _used;
                        EnsureSlots(slot + 1);
                        Volatile.Write(ref _used, _used + 1);
                    }
                    else
                    {
                        slot = Victim(now, ref expired, ref evicted);
                        _slots.Remove(_keys[slot]);
                    }

                    _slots.Add(key, slot);
                    _keys[slot] = key;
                    _referenced[slot] = false;
                }

                _scores[slot] = score;
                _expires[slot] = expires;
            }
        }

        private int Victim(long now, ref int expired, ref int evicted)
        {
            // Two sweeps at most: the first clears every mark, so the second finds an unmarked slot.
            for (var step = 0; step < 2 * _capacity; step++)
            {
                var slot = _hand;
                _hand = _hand + 1 == _capacity ? 0 : _hand + 1;
                if (_expires[slot] <= now)
                {
                    expired++;
                    return slot;
                }

                if (!_referenced[slot])
                {
                    evicted++;
                    return slot;
                }

                _referenced[slot] = false;
            }

            evicted++;
            return _hand;
        }

        private void EnsureSlots(int needed)
        {
            if (needed <= _keys.Length)
            {
                return;
            }

            var size = Math.Min(_capacity, Math.Max(needed, _keys.Length * 2));
            Array.Resize(ref _keys, size);
            Array.Resize(ref _scores, size);
            Array.Resize(ref _expires, size);
            Array.Resize(ref _referenced, size);
        }
    }
}
