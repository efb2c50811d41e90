namespace RecSys.VectorSearch;

/// <summary>
/// Caller strings kept beside one <see cref="HnswIndex"/>'s nodes (node number to a string, such as the caller's own id for
/// the node's key, and a stamp), so that a hit can be mapped to it with one array read instead of a hash lookup (typed as
/// strings so that reading one needs no type check, which would touch the object). A cache, not a source of
/// truth: the engine never writes it, a rebuilt index starts with an empty one, and the stamp is the caller's to say whether
/// a label is still valid (see <see cref="HitLabel"/>). Concurrent reads and writes are safe: a label and its stamp are
/// written one after the other, so a reader may see one without the other (callers store values that do not change for a
/// node, so a torn pair is still a right pair); a write into an array that is being grown may be lost, which only costs a
/// later lookup.
/// </summary>
public sealed class NodeLabels
{
    private Slot[] _slots;

    public NodeLabels(int capacity = 0) => _slots = new Slot[Math.Max(16, capacity)];

    /// <summary>The label of <paramref name="node"/> and the stamp it was set with (null and 0 when none).</summary>
    public string? Get(int node, out int stamp)
    {
        var slots = Volatile.Read(ref _slots);
        if ((uint)node >= (uint)slots.Length)
        {
            stamp = 0;
            return null;
        }

        ref var slot = ref slots[node];
        var label = Volatile.Read(ref slot.Label);
        stamp = Volatile.Read(ref slot.Stamp);
        return label;
    }

    /// <summary>Sets the label of <paramref name="node"/> (growing the table when the index has grown past it).</summary>
    public void Set(int node, string? label, int stamp)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(node);
        var slots = Volatile.Read(ref _slots);
        if (node >= slots.Length)
        {
            var grown = new Slot[Math.Max(node + 1, slots.Length * 2)];
            Array.Copy(slots, grown, slots.Length);
            // Another writer may have grown it first: keep that one (a label lost on the way is looked up again).
            slots = Interlocked.CompareExchange(ref _slots, grown, slots) == slots ? grown : Volatile.Read(ref _slots);
            if (node >= slots.Length)
            {
                return;
            }
        }

        ref var slot = ref slots[node];
        Volatile.Write(ref slot.Stamp, stamp);
        Volatile.Write(ref slot.Label, label);
    }

    private struct Slot
    {
        public string? Label;
        public int Stamp;
    }
}

/// <summary>Where a hit's label lives: the labels of the index that produced it and the hit's node there (no table: none).</summary>
public readonly record struct HitLabel(NodeLabels? Table, int Node)
{
    public string? Get(out int stamp)
    {
        if (Table is null)
        {
            stamp = 0;
            return null;
        }

        return Table.Get(Node, out stamp);
    }

    public void Set(string? label, int stamp) => Table?.Set(Node, label, stamp);
}
