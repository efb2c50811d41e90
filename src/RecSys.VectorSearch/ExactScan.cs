namespace RecSys.VectorSearch;

/// <summary>How one shard answered a search.</summary>
public enum SearchPlan
{
    /// <summary>The HNSW graph walk (approximate).</summary>
    Graph = 0,

    /// <summary>A brute-force scan of every node's full-precision vector (exact).</summary>
    ExactScan = 1,
}

/// <summary>
/// When an in-process shard answers with an exact scan instead of the graph walk. A walk with beam width ef scores
/// roughly ef x 2M nodes at random places in memory, with heap and visited-set work for each; a scan scores every node in
/// storage order with one comparison against the current k-th best for each. The scan is chosen when the shard is small
/// (<see cref="MaxNodes"/>) or when the beam is a large part of it (<see cref="MinBeamFraction"/>), as Qdrant plans a full
/// scan below its <c>full_scan_threshold</c> and builds no HNSW for small segments. The defaults are the crossover measured
/// in docs/ranking-serving-benchmarks.md ("Retrieval cost, fourth pass").
/// </summary>
public sealed record ExactScanOptions
{
    /// <summary>Planner off: every search walks the graph.</summary>
    public static ExactScanOptions Disabled { get; } = new() { Enabled = false };

    public bool Enabled { get; init; } = true;

    /// <summary>A shard of at most this many nodes (live and soft-deleted) is always scanned.</summary>
    public int MaxNodes { get; init; } = 4_096;

    /// <summary>
    /// A shard is scanned when the search's beam, max(ef, k), is at least this fraction of its nodes. Nodes, not live items:
    /// the scan reads soft-deleted nodes too (and skips them), so its cost follows the node count.
    /// </summary>
    public double MinBeamFraction { get; init; } = 0.01;

    /// <summary>The plan for a search of <paramref name="k"/> hits with beam <paramref name="ef"/> over <paramref name="nodeCount"/> nodes.</summary>
    public SearchPlan Choose(int k, int ef, int nodeCount)
    {
        if (!Enabled || k <= 0)
        {
            return SearchPlan.Graph;
        }

        if (nodeCount <= MaxNodes)
        {
            return SearchPlan.ExactScan;
        }

        var beam = Math.Max(k, ef);
        return beam >= MinBeamFraction * nodeCount ? SearchPlan.ExactScan : SearchPlan.Graph;
    }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(MaxNodes);
        if (double.IsNaN(MinBeamFraction) || MinBeamFraction < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MinBeamFraction), MinBeamFraction, "Must be a number >= 0 (above 1: never by fraction).");
        }
    }
}
