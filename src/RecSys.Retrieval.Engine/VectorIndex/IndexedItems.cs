using System.Collections.Concurrent;
using System.IO.Hashing;
using System.Text;
using RecSys.FeatureStore.Serving;
using RecSys.VectorSearch;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>One indexed item: its string id and its filter metadata (replaced, never mutated).</summary>
public sealed class IndexedItem(string itemId, ItemMetadata? metadata)
{
    private ItemMetadata? _metadata = metadata;

    public string ItemId { get; } = itemId;

    /// <summary>Null until read from the online store.</summary>
    public ItemMetadata? Metadata
    {
        get => Volatile.Read(ref _metadata);
        set => Volatile.Write(ref _metadata, value);
    }
}

/// <summary>
/// Item ids (strings) to the engine's longs: XxHash64 of the UTF-8 id with the sign bit cleared, so the same item maps to
/// the same long in every process and shard. The reverse map (needed to answer with string ids) is checked for collisions
/// on every add; it is persisted with each shard's snapshot.
/// </summary>
public sealed class IndexedItems
{
    private readonly ConcurrentDictionary<long, IndexedItem> _items = new();
    private int _removals;

    public int Count => _items.Count;

    public static long KeyOf(string itemId)
    {
        var max = Encoding.UTF8.GetMaxByteCount(itemId.Length);
        Span<byte> buffer = max <= 256 ? stackalloc byte[256] : new byte[max];
        var n = Encoding.UTF8.GetBytes(itemId, buffer);
        return (long)(XxHash64.HashToUInt64(buffer[..n]) & long.MaxValue);
    }

    public bool TryGet(long key, out IndexedItem item) => _items.TryGetValue(key, out item!);

    /// <summary>Adds or keeps the entry of <paramref name="itemId"/>; false when its key already belongs to another id (a collision).</summary>
    public bool TryRegister(string itemId, long key, out IndexedItem item)
    {
        item = _items.GetOrAdd(key, static (_, id) => new IndexedItem(id, null), itemId);
        return string.Equals(item.ItemId, itemId, StringComparison.Ordinal);
    }

    public void Set(long key, IndexedItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        while (true)
        {
            if (_items.TryGetValue(key, out var old))
            {
                if (_items.TryUpdate(key, item, old))
                {
                    if (!ReferenceEquals(old, item))
                    {
                        Interlocked.Increment(ref _removals);
                    }

                    return;
                }
            }
            else if (_items.TryAdd(key, item))
            {
                return;
            }
        }
    }

    public bool Remove(long key, string itemId)
    {
        if (_items.TryGetValue(key, out var e) && e.ItemId == itemId && _items.TryRemove(new KeyValuePair<long, IndexedItem>(key, e)))
        {
            Interlocked.Increment(ref _removals);
            return true;
        }

        return false;
    }

    /// <summary>
    /// Entries that have left the map (removed, or replaced by another entry) so far: a label stamped with this count is
    /// still in the map while the count has not moved.
    /// </summary>
    public int Removals => Volatile.Read(ref _removals);

    /// <summary>
    /// The item id of a search hit: its node's label when no entry has left the map since the label was set, else the map's
    /// (then kept as the label). A node's key, hence its item id, never changes, so only the entry's presence needs checking:
    /// the label read touches one array slot where the map costs a hash lookup and the cache misses of its node and entry,
    /// which counted for the 2,500 hits of a collaborative search.
    /// </summary>
    public bool TryGetItemId(long key, HitLabel label, out string itemId)
    {
        // Read before the map: a removal after this read moves the count, so the label set below goes stale at once.
        var removals = Removals;
        if (label.Get(out var stamp) is { } labelled && stamp == removals)
        {
            itemId = labelled;
            return true;
        }

        if (!_items.TryGetValue(key, out var item))
        {
            itemId = string.Empty;
            return false;
        }

        itemId = item.ItemId;
        label.Set(itemId, removals);
        return true;
    }

    public IEnumerable<KeyValuePair<long, IndexedItem>> Entries => _items;
}
