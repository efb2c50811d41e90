using System.Runtime.InteropServices;

namespace RecSys.VectorSearch;

/// <summary>
/// Merges hits from several sources into a global top-k: best score first, ties by ascending id, duplicates of an id
/// collapsed to their best score (like Qdrant's SearchResultAggregator). Not thread-safe.
/// </summary>
/// <remarks>
/// Collects every hit and sorts once with a struct comparer: for the few thousand hits of a large-k search that is cheaper
/// than a dictionary of best scores plus a heap plus a delegate-compared sort, and the first occurrence of an id in that
/// order is its best score. Each hit keeps where its label lives (<see cref="HitLabel"/>) through the merge.
/// </remarks>
public sealed class TopKAggregator
{
    private readonly int _k;
    private readonly List<SearchHit> _hits;

    // Beside each hit, where its label lives: (1 + index into _tables) << 32 | node, 0 for none. Kept apart from the hits
    // (sorted along with them) so that the hit list stays 16 bytes an entry, off the large-object heap at a few thousand.
    private readonly List<long> _labelRefs = [];
    private readonly List<NodeLabels> _tables = [];

    [ThreadStatic]
    private static HashSet<long>? t_seen;

    /// <param name="k">Hits kept.</param>
    /// <param name="expectedHits">Hits that will be added, when known (room is made for them up front).</param>
    public TopKAggregator(int k, int expectedHits = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        _k = k;
        _hits = new List<SearchHit>(Math.Max(0, expectedHits));
    }

    public int K => _k;

    public void Add(SearchHit hit)
    {
        _hits.Add(hit);
        if (_tables.Count > 0) _labelRefs.Add(0);
    }

    public void AddRange(ReadOnlySpan<SearchHit> hits) => AddRange(hits, null, []);

    /// <summary>Adds hits with their nodes in <paramref name="labels"/>' index (<paramref name="nodes"/> aligned with them).</summary>
    public void AddRange(ReadOnlySpan<SearchHit> hits, NodeLabels? labels, ReadOnlySpan<int> nodes)
    {
        var withNodes = labels is not null && nodes.Length >= hits.Length;
        if (withNodes && _tables.Count == 0)
        {
            // The first labelled hits: the ones added before have none.
            _labelRefs.EnsureCapacity(_hits.Capacity);
            for (var i = 0; i < _hits.Count; i++) _labelRefs.Add(0);
        }

        _hits.AddRange(hits);
        if (withNodes)
        {
            _tables.Add(labels!);
            var table = (long)_tables.Count << 32;
            for (var i = 0; i < hits.Length; i++) _labelRefs.Add(table | (uint)nodes[i]);
        }
        else if (_tables.Count > 0)
        {
            for (var i = 0; i < hits.Length; i++) _labelRefs.Add(0);
        }
    }

    public void AddRange(ShardSearchResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        AddRange(result.Hits, result.Labels, result.Nodes);
    }

    /// <summary>True when <paramref name="a"/> ranks before <paramref name="b"/>.</summary>
    public static bool RanksBefore(SearchHit a, SearchHit b) => a.Score > b.Score || (a.Score == b.Score && a.Id < b.Id);

    /// <summary>The top-k, best first.</summary>
    public SearchHit[] ToArray() => ToArray(out _, withLabels: false);

    /// <summary>The top-k, best first, and where each one's label lives (aligned; empty when no hit was added with labels).</summary>
    public SearchHit[] ToArray(out HitLabel[] labels) => ToArray(out labels, withLabels: true);

    private SearchHit[] ToArray(out HitLabel[] labels, bool withLabels)
    {
        labels = [];
        if (_k == 0 || _hits.Count == 0) return [];
        var all = CollectionsMarshal.AsSpan(_hits);
        withLabels &= _tables.Count > 0;
        var refs = withLabels ? CollectionsMarshal.AsSpan(_labelRefs) : [];
        if (withLabels) all.Sort(refs, default(Ranking));
        else all.Sort(default(Ranking));
        var result = new SearchHit[Math.Min(_k, all.Length)];
        if (withLabels) labels = new HitLabel[result.Length];
        // Ids already taken: a set kept per thread and cleared, rather than a ~70 KiB one per merge of a large k.
        var seen = t_seen ??= new HashSet<long>();
        seen.Clear();
        seen.EnsureCapacity(result.Length);
        var n = 0;
        for (var i = 0; i < all.Length && n < result.Length; i++)
        {
            if (!seen.Add(all[i].Id)) continue;
            if (withLabels && refs[i] != 0) labels[n] = new HitLabel(_tables[(int)(refs[i] >> 32) - 1], (int)(uint)refs[i]);
            result[n++] = all[i];
        }

        if (n < result.Length && withLabels) labels = labels[..n];
        return n == result.Length ? result : result[..n];
    }

    /// <summary>Score descending (NaN last), then id ascending: <see cref="RanksBefore"/> as a total order.</summary>
    private readonly struct Ranking : IComparer<SearchHit>
    {
        public int Compare(SearchHit a, SearchHit b)
        {
            var byScore = b.Score.CompareTo(a.Score);
            return byScore != 0 ? byScore : a.Id.CompareTo(b.Id);
        }
    }
}
