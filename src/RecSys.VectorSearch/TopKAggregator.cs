using System.Buffers;
using System.Diagnostics.CodeAnalysis;
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

    // Where each AddRange (or Add) began in _hits: the shards' lists come best first, so a few sorted runs are merged
    // instead of sorting everything.
    private readonly List<int> _runStarts = [];

    /// <summary>Runs merged at most; more (many single adds) are sorted together.</summary>
    private const int MaxMergedRuns = 16;

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
        _runStarts.Add(_hits.Count);
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

        _runStarts.Add(_hits.Count);
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
        SearchHit[]? mergedHits = null;
        long[]? mergedRefs = null;
        if (TryMergeRuns(all, refs, withLabels, out mergedHits, out mergedRefs))
        {
            all = mergedHits.AsSpan(0, all.Length);
            refs = withLabels ? mergedRefs!.AsSpan(0, all.Length) : [];
        }
        else if (withLabels)
        {
            all.Sort(refs, default(Ranking));
        }
        else
        {
            all.Sort(default(Ranking));
        }

        try
        {
            return Collect(all, refs, withLabels, out labels);
        }
        finally
        {
            if (mergedHits is not null) ArrayPool<SearchHit>.Shared.Return(mergedHits);
            if (mergedRefs is not null) ArrayPool<long>.Shared.Return(mergedRefs);
        }
    }

    /// <summary>The first k distinct ids of <paramref name="all"/> (ranked), with their labels when asked.</summary>
    private SearchHit[] Collect(ReadOnlySpan<SearchHit> all, ReadOnlySpan<long> refs, bool withLabels, out HitLabel[] labels)
    {
        labels = [];
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

    /// <summary>
    /// When every run added is already in ranking order (a shard's hits are, best first) and there are few runs: merges them
    /// into pooled arrays (the caller returns them), comparing each output once per run instead of sorting all the hits.
    /// The merge gives the order the sort gives (a total order; hits equal in score and id are the same hit).
    /// </summary>
    private bool TryMergeRuns(ReadOnlySpan<SearchHit> all, ReadOnlySpan<long> refs, bool withLabels,
        [NotNullWhen(true)] out SearchHit[]? mergedHits, out long[]? mergedRefs)
    {
        mergedHits = null;
        mergedRefs = null;
        var runs = _runStarts.Count;
        if (runs < 2 || runs > MaxMergedRuns) return false;
        Span<int> next = stackalloc int[runs];
        Span<int> ends = stackalloc int[runs];
        for (var r = 0; r < runs; r++)
        {
            next[r] = _runStarts[r];
            ends[r] = r + 1 < runs ? _runStarts[r + 1] : all.Length;
            for (var i = next[r] + 1; i < ends[r]; i++)
            {
                if (default(Ranking).Compare(all[i - 1], all[i]) > 0) return false;
            }
        }

        mergedHits = ArrayPool<SearchHit>.Shared.Rent(all.Length);
        if (withLabels) mergedRefs = ArrayPool<long>.Shared.Rent(all.Length);
        for (var n = 0; n < all.Length; n++)
        {
            var best = -1;
            for (var r = 0; r < runs; r++)
            {
                if (next[r] < ends[r] && (best < 0 || default(Ranking).Compare(all[next[r]], all[next[best]]) < 0)) best = r;
            }

            var at = next[best]++;
            mergedHits[n] = all[at];
            if (withLabels) mergedRefs![n] = refs[at];
        }

        return true;
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
