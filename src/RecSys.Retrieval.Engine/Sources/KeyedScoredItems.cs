using System.Collections;
using RecSys.Candidates;
using RecSys.Retrieval.VectorIndex;

namespace RecSys.Retrieval.Sources;

/// <summary>
/// A source's list together with each item's index key (<see cref="IndexedItems.KeyOf"/> of its id), for a source whose
/// items come from the vector index with their keys: the retriever then finds them by key without hashing their ids.
/// </summary>
internal sealed class KeyedScoredItems(ScoredItem[] items, long[] keys) : IReadOnlyList<ScoredItem>
{
    /// <summary>Aligned with the items.</summary>
    public long[] Keys { get; } = keys;

    public int Count => items.Length;

    public ScoredItem this[int index] => items[index];

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

    public IEnumerator<ScoredItem> GetEnumerator() => ((IEnumerable<ScoredItem>)items).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
