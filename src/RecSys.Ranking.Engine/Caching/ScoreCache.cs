using System.Buffers;
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

    /// <summary>Up to this many items a batch's hashes live on the stack; beyond, in a pooled array.</summary>
    private const int StackItems = 1024;

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

        var now = _time.GetTimestamp();
        var rented = itemIds.Count <= StackItems ? null : ArrayPool<int>.Shared.Rent(itemIds.Count);
        var hashes = rented is null ? stackalloc int[itemIds.Count] : rented.AsSpan(0, itemIds.Count);
        try
        {
            HashItems(scope, itemIds, hashes);
            for (var s = 0; s < _shards.Length; s++)
            {
                _shards[s].TryGetAll(scope, itemIds, hashes, s, _shardMask, now, scores);
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<int>.Shared.Return(rented);
            }
        }

        // A cached score is finite, so NaN marks exactly the misses; listed in ascending order.
        for (var i = 0; i < itemIds.Count; i++)
        {
            if (float.IsNaN(scores[i]))
            {
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

        var expires = _time.GetTimestamp() + _timeToLiveTicks;
        var now = expires - _timeToLiveTicks;
        int expired = 0, evicted = 0;
        var rented = indices.Length <= StackItems ? null : ArrayPool<int>.Shared.Rent(indices.Length);
        var hashes = rented is null ? stackalloc int[indices.Length] : rented.AsSpan(0, indices.Length);
        try
        {
            var scopeHash = ScopeHash(scope);
            for (var k = 0; k < indices.Length; k++)
            {
                hashes[k] = KeyHash(scopeHash, CheckItem(itemIds[indices[k]]));
            }

            // Shard by shard, each in the batch's order: every shard sees the sequence of sets it would see one item at a time.
            for (var s = 0; s < _shards.Length; s++)
            {
                _shards[s].SetAll(scope, itemIds, indices, hashes, s, _shardMask, scores, now, expires, ref expired, ref evicted);
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<int>.Shared.Return(rented);
            }
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

    private static int ScopeHash(ScoreCacheScope scope) =>
        HashCode.Combine(scope.UserId.GetHashCode(StringComparison.Ordinal), scope.ModelVersion.GetHashCode(StringComparison.Ordinal),
            scope.FeatureStateVersion.GetHashCode(StringComparison.Ordinal));

    private static int KeyHash(int scopeHash, string itemId) => HashCode.Combine(scopeHash, itemId.GetHashCode(StringComparison.Ordinal));

    private static void HashItems(ScoreCacheScope scope, IReadOnlyList<string> itemIds, Span<int> hashes)
    {
        var scopeHash = ScopeHash(scope);
        for (var i = 0; i < itemIds.Count; i++)
        {
            hashes[i] = KeyHash(scopeHash, CheckItem(itemIds[i]));
        }
    }

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

    /// <summary>One slot: the key (scope, item and their hash), the score, its expiry and the CLOCK mark, on one or two cache lines.</summary>
    private struct Entry
    {
        public ScoreCacheScope Scope;
        public string Item;
        public long Expires;
        public int Hash;
        public float Score;
        public bool Referenced;

        public readonly bool Matches(int hash, string item, in ScoreCacheScope scope) =>
            Hash == hash
            && string.Equals(Item, item, StringComparison.Ordinal)
            && string.Equals(Scope.UserId, scope.UserId, StringComparison.Ordinal)
            && string.Equals(Scope.ModelVersion, scope.ModelVersion, StringComparison.Ordinal)
            && string.Equals(Scope.FeatureStateVersion, scope.FeatureStateVersion, StringComparison.Ordinal);
    }

    /// <summary>
    /// One lock's worth of entries in a slot array (grown up to the capacity, never beyond), found through an open-addressing
    /// index of slot numbers (linear probing, at most half full; an evicted key leaves by backward-shift deletion, so no
    /// tombstones pile up). Eviction is CLOCK: a hit marks its slot referenced; the hand clears marks as it passes and takes the
    /// first expired or unmarked slot. A batch takes the lock once per shard.
    /// </summary>
    private sealed class Shard(int capacity)
    {
        private readonly Lock _gate = new();
        private readonly int _capacity = capacity;
        private Entry[] _entries = new Entry[Math.Min(capacity, 64)];

        // Slot + 1 per position, 0 for an empty position; the length is a power of two at least twice the slots'.
        private int[] _index = new int[IndexLength(Math.Min(capacity, 64))];
        private int _used;
        private int _hand;

        public int Count => Volatile.Read(ref _used);

        /// <summary>Looks up the items whose hash falls in shard <paramref name="shard"/>: a hit's score goes to its index, a miss's is NaN.</summary>
        public void TryGetAll(in ScoreCacheScope scope, IReadOnlyList<string> itemIds, ReadOnlySpan<int> hashes, int shard, int shardMask, long now, Span<float> scores)
        {
            lock (_gate)
            {
                for (var i = 0; i < hashes.Length; i++)
                {
                    var hash = hashes[i];
                    if ((hash & shardMask) != shard)
                    {
                        continue;
                    }

                    var slot = Find(hash, itemIds[i], scope);
                    if (slot >= 0 && _entries[slot].Expires > now)
                    {
                        _entries[slot].Referenced = true;
                        scores[i] = _entries[slot].Score;
                    }
                    else
                    {
                        scores[i] = float.NaN;
                    }
                }
            }
        }

        /// <summary>Sets the scores of the batch's items whose hash falls in shard <paramref name="shard"/>, in the batch's order.</summary>
        public void SetAll(in ScoreCacheScope scope, IReadOnlyList<string> itemIds, ReadOnlySpan<int> indices, ReadOnlySpan<int> hashes, int shard, int shardMask,
            ReadOnlySpan<float> scores, long now, long expires, ref int expired, ref int evicted)
        {
            lock (_gate)
            {
                for (var k = 0; k < hashes.Length; k++)
                {
                    var hash = hashes[k];
                    if ((hash & shardMask) == shard)
                    {
                        Set(hash, itemIds[indices[k]], scope, scores[k], now, expires, ref expired, ref evicted);
                    }
                }
            }
        }

        private void Set(int hash, string item, in ScoreCacheScope scope, float score, long now, long expires, ref int expired, ref int evicted)
        {
            var slot = Find(hash, item, scope);
            if (slot < 0)
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
                    Unindex(slot);
                }

                ref var fresh = ref _entries[slot];
                fresh.Scope = scope;
                fresh.Item = item;
                fresh.Hash = hash;
                fresh.Referenced = false;
                Index(slot);
            }

            _entries[slot].Score = score;
            _entries[slot].Expires = expires;
        }

        private static int IndexLength(int slots) => (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, slots * 2));

        // The position a hash starts probing at: its high bits (the low ones chose the shard), spread by Fibonacci hashing.
        private int Home(int hash) => (int)(((uint)hash * 0x9E3779B9u) >> (32 - BitOperations.Log2((uint)_index.Length)));

        private int Find(int hash, string item, in ScoreCacheScope scope)
        {
            var mask = _index.Length - 1;
            for (var position = Home(hash); ; position = (position + 1) & mask)
            {
                var stored = _index[position];
                if (stored == 0)
                {
                    return -1;
                }

                if (_entries[stored - 1].Matches(hash, item, scope))
                {
                    return stored - 1;
                }
            }
        }

        private void Index(int slot)
        {
            var mask = _index.Length - 1;
            var position = Home(_entries[slot].Hash);
            while (_index[position] != 0)
            {
                position = (position + 1) & mask;
            }

            _index[position] = slot + 1;
        }

        /// <summary>Removes the slot's position from the index, shifting later positions of its probe run back into the hole.</summary>
        private void Unindex(int slot)
        {
            var mask = _index.Length - 1;
            var hole = Home(_entries[slot].Hash);
            while (_index[hole] != slot + 1)
            {
                hole = (hole + 1) & mask;
            }

            var next = hole;
            while (true)
            {
                next = (next + 1) & mask;
                var stored = _index[next];
                if (stored == 0)
                {
                    _index[hole] = 0;
                    return;
                }

                // An entry may move back into the hole unless its home lies cyclically in (hole, next].
                var home = Home(_entries[stored - 1].Hash);
                var stays = hole <= next ? hole < home && home <= next : hole < home || home <= next;
                if (!stays)
                {
                    _index[hole] = stored;
                    hole = next;
                }
            }
        }

        private int Victim(long now, ref int expired, ref int evicted)
        {
            // Two sweeps at most: the first clears every mark, so the second finds an unmarked slot.
            for (var step = 0; step < 2 * _capacity; step++)
            {
                var slot = _hand;
                _hand = _hand + 1 == _capacity ? 0 : _hand + 1;
                ref var entry = ref _entries[slot];
                if (entry.Expires <= now)
                {
                    expired++;
                    return slot;
                }

                if (!entry.Referenced)
                {
                    evicted++;
                    return slot;
                }

                entry.Referenced = false;
            }

            evicted++;
            return _hand;
        }

        private void EnsureSlots(int needed)
        {
            if (needed <= _entries.Length)
            {
                return;
            }

            var size = Math.Min(_capacity, Math.Max(needed, _entries.Length * 2));
            Array.Resize(ref _entries, size);
            if (IndexLength(size) > _index.Length)
            {
                // Rebuilt for the new length: every slot in use (the one being filled is indexed by the caller).
                _index = new int[IndexLength(size)];
                for (var slot = 0; slot < _used; slot++)
                {
                    Index(slot);
                }
            }
        }
    }
}
