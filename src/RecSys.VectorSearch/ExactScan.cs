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
/// When an in-process shard answers with an exact scan instead of the graph walk. A walk with beam width ef scores roughly
/// ef x 2M nodes at random places in memory, with heap and visited-set work for each; a scan scores every node in storage
/// order with one comparison each. The scan is chosen when the shard's vectors are small (<see cref="MaxVectorBytes"/>,
/// like Qdrant's <c>full_scan_threshold</c> in kilobytes of vectors, below which its planner prefers a full scan) or when the
/// beam is a large part of the shard (<see cref="MinBeamFraction"/>). The defaults are the crossover measured on 2 vCPUs of an
/// AMD EPYC (AVX-512) at d = 16, 64 and 256 and 1,000-25,000 nodes (docs/ranking-serving-benchmarks.md, "Retrieval cost,
/// fourth pass"): a scan's cost per node grows with d faster than the walk's cost per beam slot, so the fraction is scaled
/// by (d / 16)^0.75, which fits the measured crossover (0.006 at d = 16, ~0.02 at 64, ~0.05 at 256).
/// </summary>
public sealed record ExactScanOptions
{
    /// <summary>Planner off: every search walks the graph.</summary>
    public static ExactScanOptions Disabled { get; } = new() { Enabled = false };

    public bool Enabled { get; init; } = true;

    /// <summary>A shard whose vectors (nodes x d x 4 bytes, soft-deleted nodes included) take at most this many bytes is always scanned.</summary>
    public long MaxVectorBytes { get; init; } = 512 * 1024;

    /// <summary>
    /// At d = 16, a shard is scanned when the search's beam, max(ef, k), is at least this fraction of its nodes (scaled by
    /// (d / 16)^0.75 for other widths). Nodes, not live items: the scan reads soft-deleted nodes too (and skips them), so its
    /// cost follows the node count.
    /// </summary>
    public double MinBeamFraction { get; init; } = 0.006;

    /// <summary>The plan for a search of <paramref name="k"/> hits with beam <paramref name="ef"/> over <paramref name="nodeCount"/> nodes of <paramref name="dimension"/> floats.</summary>
    public SearchPlan Choose(int k, int ef, int nodeCount, int dimension)
    {
        if (!Enabled || k <= 0)
        {
            return SearchPlan.Graph;
        }

        if ((long)nodeCount * dimension * sizeof(float) <= MaxVectorBytes)
        {
            return SearchPlan.ExactScan;
        }

        var beam = Math.Max(k, ef);
        var fraction = MinBeamFraction * Math.Pow(Math.Max(1, dimension) / 16.0, 0.75);
        return beam >= fraction * nodeCount ? SearchPlan.ExactScan : SearchPlan.Graph;
    }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(MaxVectorBytes);
        if (double.IsNaN(MinBeamFraction) || MinBeamFraction < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MinBeamFraction), MinBeamFraction, "Must be a number >= 0 (above 1: never by fraction).");
        }
    }
}
