using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RecSys.Candidates;

/// <summary>One source's ranked list and its fusion weight.</summary>
public sealed record SourceResult(string Source, double Weight, IReadOnlyList<ScoredItem> Items);

/// <summary>A fused candidate: its total score and the sources that proposed it, in the order the sources were given.</summary>
public sealed class FusedCandidate(string itemId, double score, IReadOnlyList<string> sources)
{
    public string ItemId { get; } = itemId;

    public double Score { get; } = score;

    /// <summary>Shared with the other candidates proposed by the same sources: read only.</summary>
    public IReadOnlyList<string> Sources { get; } = sources;
}

/// <summary>
/// Weighted reciprocal-rank fusion of the sources' lists. For the item at 1-based <c>rank</c> with normalized <c>score</c> in a source of weight
/// <c>w</c>: <c>(score x 0.7 + 0.3 / (60 + rank)) x w</c>, summed over the sources that propose it; an item proposed by
/// n &gt; 1 sources is then multiplied by <c>1 + 0.1 n</c>. Sorted by total descending, ties by item id (ordinal).
/// Deduplication is inherent; a source that lists an item twice counts once, at its first (best) rank.
/// </summary>
public static class CandidateFusion
{
    public const int RrfK = 60;
    public const double ScoreShare = 0.7;
    public const double RankShare = 0.3;
    public const double MultiSourceBonus = 0.1;

    public static List<FusedCandidate> Merge(IReadOnlyList<SourceResult> results)
    {
        var capacity = 0;
        foreach (var r in results)
        {
            capacity += r.Items.Count;
        }

        var fusion = new FusionAccumulator(capacity);
        foreach (var (source, weight, items) in results)
        {
            fusion.Add(fusion.AddSource(source, weight), items, items.Count);
        }

        var ranked = fusion.Rank();
        var fused = new List<FusedCandidate>(ranked.Length);
        foreach (var r in ranked)
        {
            fused.Add(new FusedCandidate(r.ItemId, r.Score, fusion.SourcesOf(r.Entry)));
        }

        return fused;
    }
}

/// <summary>A fused item in rank order: its id, total score and its entry in the <see cref="FusionAccumulator"/> that ranked it.</summary>
public readonly record struct RankedCandidate(string ItemId, double Score, int Entry);

/// <summary>
/// <see cref="CandidateFusion"/>'s sums kept per distinct item, source by source, so that a source's list can be taken further
/// after the fact (the retriever's backfill extends one source's contribution until the list is full) without fusing
/// everything again, and ranked once at the end. Scores are summed in the order the sources were added and, within a
/// source, in rank order, exactly as a single <see cref="CandidateFusion.Merge"/> of the final lists sums them: extending
/// the last source added gives bit-for-bit the same totals; extending an earlier one does not (floating-point sums depend
/// on their order), so callers fuse again from scratch then. At most 64 sources; not thread-safe.
/// Items are found by their id string, or, when every list comes with keys (<see cref="Add(int, IReadOnlyList{ScoredItem}, int, long[])"/>),
/// by a 64-bit key per item (the vector index's key of the id): the id is then compared only when two lists propose the same key,
/// and ids that share a key are still told apart, so the fusion is the same either way.
/// </summary>
public sealed class FusionAccumulator
{
    /// <summary>Sources a fusion can take (one bit each in an item's source set).</summary>
    public const int MaxSources = 64;

    private readonly Dictionary<string, int> _entryOf;

    /// <summary>
    /// Keyed fusion: an open-addressing table from key to entry (linear probing, at most half full). The keys are already
    /// hashes, so a multiply and a shift place them; a request's ~6,000 proposals cost one or two probes each, with no
    /// bucket chains and no per-insert bookkeeping as in a <see cref="Dictionary{TKey, TValue}"/>.
    /// </summary>
    private long[] _slotKeys = [];

    /// <summary>Entry + 1 per slot; 0 marks an empty slot (so only this array is cleared between fusions).</summary>
    private int[] _slotEntries = [];
    private int _slotShift = 64;
    private int _keysUsed;

    /// <summary>Keyed fusion: ids whose key already belonged to another id (a hash collision), by id.</summary>
    private readonly Dictionary<string, int> _collided = new(StringComparer.Ordinal);
    private bool? _keyed;
    private int _capacity;
    private readonly List<(string Name, double Weight, int Taken)> _sources = [];
    private readonly Dictionary<ulong, string[]> _sourceLists = [];
    private Entry[] _entries;
    private RankedCandidate[] _ranked = [];
    private double[] _keys = [];
    private int[] _order = [];
    private int _count;

    public FusionAccumulator(int capacity = 0)
    {
        _entryOf = new Dictionary<string, int>(StringComparer.Ordinal);
        _capacity = capacity;
        _entries = new Entry[Math.Max(16, capacity)];
    }

    /// <summary>
    /// Empties the fusion for another one, keeping its arrays (a request's fusion of ~5,000 items needs arrays on the large
    /// object heap: reusing them saves the allocation and the collections it brings). Source lists handed out before stay valid.
    /// </summary>
    public void Reset(int capacity)
    {
        _entryOf.Clear();
        if (_keysUsed > 0)
        {
            Array.Clear(_slotEntries);
            _keysUsed = 0;
        }

        _collided.Clear();
        _keyed = null;
        _capacity = capacity;
        if (_entries.Length < capacity)
        {
            _entries = new Entry[capacity];
        }
        else
        {
            Array.Clear(_entries, 0, _count);
        }

        _count = 0;
        _sources.Clear();
        _sourceLists.Clear();
    }

    /// <summary>Distinct items so far; entries are numbered 0..Count-1 in the order their items were first proposed.</summary>
    public int Count => _count;

    /// <summary>Sources added so far.</summary>
    public int SourceCount => _sources.Count;

    /// <summary>Registers the next source (fusion order is the order of these calls); returns its index.</summary>
    public int AddSource(string name, double weight)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_sources.Count == MaxSources)
        {
            throw new InvalidOperationException($"A fusion takes at most {MaxSources} sources.");
        }

        _sources.Add((name, weight, 0));
        return _sources.Count - 1;
    }

    /// <summary>How many items of <paramref name="source"/>'s list have been summed (ranks 1..Taken).</summary>
    public int Taken(int source) => _sources[source].Taken;

    /// <summary>
    /// Sums <paramref name="items"/>[Taken(source) .. <paramref name="end"/>) of <paramref name="source"/>'s list (the first
    /// call takes the list from its start; a later one continues it: the list must be the same, or a list that shares its prefix).
    /// </summary>
    public void Add(int source, IReadOnlyList<ScoredItem> items, int end)
    {
        ArgumentNullException.ThrowIfNull(items);
        UseKeys(false);
        var (name, weight, taken) = _sources[source];
        end = Math.Min(end, items.Count);
        var bit = 1UL << source;
        for (var i = taken; i < end; i++)
        {
            var item = items[i];
            ref var slot = ref CollectionsMarshal.GetValueRefOrAddDefault(_entryOf, item.ItemId, out var exists);
            if (!exists)
            {
                slot = NewEntry(item.ItemId, 0);
            }

            Sum(slot, bit, i, item.Score, weight);
        }

        if (end > taken)
        {
            _sources[source] = (name, weight, end);
        }
    }

    /// <summary>
    /// As <see cref="Add(int, IReadOnlyList{ScoredItem}, int)"/>, finding items by <paramref name="keys"/> (aligned with
    /// <paramref name="items"/>: the same id always has the same key). A fusion takes keys for every list or for none.
    /// </summary>
    public void Add(int source, IReadOnlyList<ScoredItem> items, int end, long[] keys)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(keys);
        UseKeys(true);
        var (name, weight, taken) = _sources[source];
        end = Math.Min(end, items.Count);
        if (keys.Length < end)
        {
            throw new ArgumentException($"{keys.Length} keys for {end} items.", nameof(keys));
        }

        var bit = 1UL << source;
        for (var i = taken; i < end; i++)
        {
            var item = items[i];
            Sum(EntryOf(item.ItemId, keys[i]), bit, i, item.Score, weight);
        }

        if (end > taken)
        {
            _sources[source] = (name, weight, end);
        }
    }

    /// <summary>
    /// Sums the next item of <paramref name="source"/>'s keyed list (the one at <see cref="Taken"/>, as
    /// <see cref="Add(int, IReadOnlyList{ScoredItem}, int, long[])"/> with one more item would); true when no source had
    /// proposed it yet (it has a new entry). False, summing nothing, when the list has no next item.
    /// </summary>
    public bool AddNext(int source, IReadOnlyList<ScoredItem> items, long[] keys)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(keys);
        UseKeys(true);
        var (name, weight, taken) = _sources[source];
        if (taken >= items.Count || taken >= keys.Length)
        {
            return false;
        }

        var item = items[taken];
        var entries = _count;
        Sum(EntryOf(item.ItemId, keys[taken]), 1UL << source, taken, item.Score, weight);
        _sources[source] = (name, weight, taken + 1);
        return _count > entries;
    }

    /// <summary>The entry of <paramref name="itemId"/> with <paramref name="key"/> in a keyed fusion, made when it is new.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int EntryOf(string itemId, long key)
    {
        ref var slot = ref SlotOf(key);
        if (slot == 0)
        {
            var entry = NewEntry(itemId, key);
            slot = entry + 1;
            _keysUsed++;
            if (_keysUsed * 2 > _slotEntries.Length)
            {
                GrowSlots(_slotEntries.Length * 2);
            }

            return entry;
        }

        var known = _entries[slot - 1].ItemId;
        if (ReferenceEquals(known, itemId) || string.Equals(known, itemId, StringComparison.Ordinal))
        {
            return slot - 1;
        }

        // Another id with the same key: it has its own entry, found by id.
        ref var other = ref CollectionsMarshal.GetValueRefOrAddDefault(_collided, itemId, out var exists);
        if (!exists)
        {
            other = NewEntry(itemId, key);
        }

        return other;
    }

    private void UseKeys(bool keyed)
    {
        if (_keyed != keyed && _keyed is not null)
        {
            throw new InvalidOperationException("A fusion takes keys for every list or for none.");
        }

        if (_keyed is null)
        {
            // Sized once the kind of fusion is known: only one of the two maps is used.
            if (keyed)
            {
                // At most half full at the expected size: no growth during the fusion.
                var slots = (int)Math.Max(64, BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, _capacity) * 2));
                if (_slotEntries.Length < slots)
                {
                    GrowSlots(slots);
                }
            }
            else
            {
                _entryOf.EnsureCapacity(_capacity);
            }

            _keyed = keyed;
        }
    }

    /// <summary>
    /// The slot of <paramref name="key"/>: its entry + 1 when the key is there, else the empty slot where it goes (the key is
    /// written there; the caller sets the entry).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref int SlotOf(long key)
    {
        var mask = _slotEntries.Length - 1;
        var i = (int)(((ulong)key * 0x9E3779B97F4A7C15UL) >> _slotShift);
        while (true)
        {
            ref var slot = ref _slotEntries[i];
            if (slot == 0)
            {
                _slotKeys[i] = key;
                return ref slot;
            }

            if (_slotKeys[i] == key)
            {
                return ref slot;
            }

            i = (i + 1) & mask;
        }
    }

    /// <summary>A table of <paramref name="slots"/> (a power of two) holding the keys so far, each with its first entry.</summary>
    private void GrowSlots(int slots)
    {
        _slotKeys = new long[slots];
        _slotEntries = new int[slots];
        _slotShift = 64 - BitOperations.Log2((uint)slots);
        _keysUsed = 0;
        for (var e = 0; e < _count; e++)
        {
            // Entries of ids that share a key (found through _collided) come after the key's first entry: the first one wins.
            ref var slot = ref SlotOf(_entries[e].Key);
            if (slot == 0)
            {
                slot = e + 1;
                _keysUsed++;
            }
        }
    }

    private int NewEntry(string itemId, long key)
    {
        if (_count == _entries.Length)
        {
            Array.Resize(ref _entries, _entries.Length * 2);
        }

        _entries[_count] = new Entry { ItemId = itemId, Key = key };
        return _count++;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Sum(int slot, ulong bit, int index, double score, double weight)
    {
        ref var entry = ref _entries[slot];
        if ((entry.Sources & bit) != 0)
        {
            // Listed twice by this source: it counts once, at its first (best) rank.
            return;
        }

        entry.Sources |= bit;
        var rank = index + 1;
        var rrf = 1.0 / (CandidateFusion.RrfK + rank);
        entry.Score += ((score * CandidateFusion.ScoreShare) + (rrf * CandidateFusion.RankShare)) * weight;
    }

    /// <summary>True when some source has proposed <paramref name="itemId"/> (a fusion without keys).</summary>
    public bool Contains(string itemId) =>
        _keyed == true ? throw new InvalidOperationException("A keyed fusion finds items by key.") : _entryOf.ContainsKey(itemId);

    public string ItemIdAt(int entry) => _entries[entry].ItemId;

    /// <summary>The key entry <paramref name="entry"/> was added with (0 in a fusion without keys).</summary>
    public long KeyAt(int entry) => _entries[entry].Key;

    /// <summary>
    /// Every item ranked: total score (the multi-source bonus applied) descending, ties by item id (ordinal).
    /// <paramref name="include"/>, when given, keeps only the entries it accepts (what is left out is never sorted).
    /// The accumulator is left as it was: it can be extended and ranked again.
    /// </summary>
    public RankedCandidate[] Rank(Func<int, bool>? include = null)
    {
        var ranked = new RankedCandidate[include is null ? _count : CountIncluded(include)];
        RankInto(ranked, include);
        return ranked;
    }

    /// <summary>
    /// As <see cref="Rank"/>, into an array the accumulator keeps for the next call (valid until then, or until
    /// <see cref="Reset"/>): no allocation once it has grown.
    /// </summary>
    public ReadOnlySpan<RankedCandidate> RankReusing(Func<int, bool>? include = null)
    {
        if (_ranked.Length < _count)
        {
            _ranked = new RankedCandidate[_count];
        }

        return _ranked.AsSpan(0, RankInto(_ranked, include));
    }

    private int CountIncluded(Func<int, bool> include)
    {
        var size = 0;
        for (var e = 0; e < _count; e++)
        {
            size += include(e) ? 1 : 0;
        }

        return size;
    }

    private int RankInto(RankedCandidate[] ranked, Func<int, bool>? include)
    {
        if (_keys.Length < _count)
        {
            _keys = new double[Math.Max(_count, _entries.Length)];
            _order = new int[_keys.Length];
        }

        // Sorted as (negated score, entry number) pairs, a primitive key and a 4-byte item (the runtime's specialized sort,
        // no comparer calls, an eighth of the bytes moved per swap of a RankedCandidate); the ranked list is written once,
        // in order, afterwards.
        var n = 0;
        for (var e = 0; e < _count; e++)
        {
            if (include is not null && !include(e))
            {
                continue;
            }

            ref readonly var entry = ref _entries[e];
            var sources = BitOperations.PopCount(entry.Sources);
            var score = entry.Score;
            if (sources > 1)
            {
                score *= 1 + (CandidateFusion.MultiSourceBonus * sources);
            }

            _keys[n] = -score;
            _order[n++] = e;
        }

        var keys = _keys.AsSpan(0, n);
        var order = _order.AsSpan(0, n);
        keys.Sort(order);
        // Each run of equal scores in item id order: score descending, then id, a total order (the ranking does not depend on the sort).
        for (var start = 0; start < n;)
        {
            var end = start + 1;
            while (end < n && keys[end].CompareTo(keys[start]) == 0)
            {
                end++;
            }

            if (end - start > 1)
            {
                order[start..end].Sort(new ById(_entries));
            }

            start = end;
        }

        for (var i = 0; i < n; i++)
        {
            var e = order[i];
            ranked[i] = new RankedCandidate(_entries[e].ItemId, -keys[i], e);
        }

        return n;
    }

    /// <summary>The names of the sources that proposed entry <paramref name="entry"/>, in fusion order (one shared array per set of sources).</summary>
    public IReadOnlyList<string> SourcesOf(int entry)
    {
        var mask = _entries[entry].Sources;
        ref var names = ref CollectionsMarshal.GetValueRefOrAddDefault(_sourceLists, mask, out var exists);
        if (!exists)
        {
            names = new string[BitOperations.PopCount(mask)];
            var n = 0;
            for (var rest = mask; rest != 0; rest &= rest - 1)
            {
                names[n++] = _sources[BitOperations.TrailingZeroCount(rest)].Name;
            }
        }

        return names!;
    }

    private struct Entry
    {
        public string ItemId;
        public long Key;
        public double Score;
        public ulong Sources;
    }

    /// <summary>Entry numbers by their item ids (ordinal): ties of equal scores.</summary>
    private readonly struct ById(Entry[] entries) : IComparer<int>
    {
        public int Compare(int a, int b) => string.CompareOrdinal(entries[a].ItemId, entries[b].ItemId);
    }
}
