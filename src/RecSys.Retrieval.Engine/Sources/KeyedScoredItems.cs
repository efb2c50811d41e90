using System.Collections;
using System.Runtime.InteropServices;
using RecSys.Candidates;
using RecSys.Retrieval.VectorIndex;

namespace RecSys.Retrieval.Sources;

/// <summary>
/// A source's list together with each item's index key (<see cref="IndexedItems.KeyOf"/> of its id), for a source whose
/// items come from the vector index with their keys: the retriever then finds them by key without hashing their ids.
/// </summary>
internal sealed class KeyedScoredItems(ScoredItem[] items, long[] keys) : IReadOnlyList<ScoredItem>
{
    private readonly ScoredItem[] _items = items;

    /// <summary>Aligned with the items.</summary>
    public long[] Keys { get; } = keys;

    public int Count => _items.Length;

    public ScoredItem this[int index] => _items[index];

    /// <summary>The keys of <paramref name="items"/>: carried by a keyed list, else worked out from the ids.</summary>
    public static long[] KeysOf(IReadOnlyList<ScoredItem> items)
    {
        if (items is KeyedScoredItems keyed)
        {
            return keyed.Keys;
        }

        var keys = new long[items.Count];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = IndexedItems.KeyOf(items[i].ItemId);
        }

        return keys;
    }

    /// <summary>The items of a list as a span when it is an array, a keyed list or a <see cref="List{T}"/>; false otherwise.</summary>
    public static bool TryGetSpan(IReadOnlyList<ScoredItem> list, out ReadOnlySpan<ScoredItem> span)
    {
        switch (list)
        {
            case ScoredItem[] array:
                span = array;
                return true;
            case KeyedScoredItems keyed:
                span = keyed._items;
                return true;
            case List<ScoredItem> growable:
                span = CollectionsMarshal.AsSpan(growable);
                return true;
            default:
                span = default;
                return false;
        }
    }

    public IEnumerator<ScoredItem> GetEnumerator() => ((IEnumerable<ScoredItem>)_items).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
