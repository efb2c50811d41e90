namespace RecSys.VectorSearch;

/// <summary>
/// Caller data kept beside one <see cref="HnswIndex"/>'s nodes (node number to an object), so that a hit can be mapped to
/// what the caller knows about its id with one array read instead of a hash lookup. A cache, not a source of truth: the
/// engine never writes it, a rebuilt index starts with an empty one, and readers must check what they read
/// (see <see cref="HitLabel"/>). Concurrent reads and writes are safe: a write into an array that is being grown may be
/// lost, which only costs a later lookup.
/// </summary>
public sealed class NodeLabels
{
    private object?[] _labels;

    public NodeLabels(int capacity = 0) => _labels = new object?[Math.Max(16, capacity)];

    /// <summary>The label of <paramref name="node"/>, or null.</summary>
    public object? Get(int node)
    {
        var labels = Volatile.Read(ref _labels);
        return (uint)node < (uint)labels.Length ? Volatile.Read(ref labels[node]) : null;
    }

    /// <summary>Sets the label of <paramref name="node"/> (growing the table when the index has grown past it).</summary>
    public void Set(int node, object? label)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(node);
        var labels = Volatile.Read(ref _labels);
        if (node >= labels.Length)
        {
            var grown = new object?[Math.Max(node + 1, labels.Length * 2)];
            Array.Copy(labels, grown, labels.Length);
            // Another writer may have grown it first: keep whichever is larger (a label lost on the way is looked up again).
            labels = Interlocked.CompareExchange(ref _labels, grown, labels) == labels ? grown : Volatile.Read(ref _labels);
            if (node >= labels.Length)
            {
                return;
            }
        }

        Volatile.Write(ref labels[node], label);
    }
}

/// <summary>Where a hit's label lives: the labels of the index that produced it and the hit's node there (no table: none).</summary>
public readonly record struct HitLabel(NodeLabels? Table, int Node)
{
    public object? Get() => Table?.Get(Node);

    public void Set(object? label) => Table?.Set(Node, label);
}
