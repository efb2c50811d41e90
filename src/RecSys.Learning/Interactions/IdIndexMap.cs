namespace RecSys.Learning.Interactions;

/// <summary>
/// Dense indices 0..Count-1 for external ids, in first-seen order, so engines work on arrays and callers keep their ids.
/// </summary>
public sealed class IdIndexMap<TId>
    where TId : notnull
{
    private readonly Dictionary<TId, int> _indexById;
    private readonly List<TId> _ids;

    public IdIndexMap(int capacity = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        _indexById = new Dictionary<TId, int>(capacity);
        _ids = new List<TId>(capacity);
    }

    public int Count => _ids.Count;

    public IReadOnlyList<TId> Ids => _ids;

    /// <summary>The index of <paramref name="id"/>, adding it at the end when it is new.</summary>
    public int GetOrAdd(TId id)
    {
        if (_indexById.TryGetValue(id, out var index))
        {
            return index;
        }

        index = _ids.Count;
        _indexById.Add(id, index);
        _ids.Add(id);
        return index;
    }

    public bool TryGetIndex(TId id, out int index) => _indexById.TryGetValue(id, out index);

    public TId IdAt(int index)
    {
        if ((uint)index >= (uint)_ids.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"Index must be in [0, {_ids.Count}).");
        }

        return _ids[index];
    }
}
