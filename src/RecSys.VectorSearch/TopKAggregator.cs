using System.Runtime.InteropServices;

namespace RecSys.VectorSearch;

/// <summary>
/// Merges hits from several sources into a global top-k: best score first, ties by ascending id, duplicates of an id
/// collapsed to their best score (like Qdrant's SearchResultAggregator). Not thread-safe.
/// </summary>
/// <remarks>
/// Collects every hit and sorts once with a struct comparer: for the few thousand hits of a large-k search that is cheaper
/// than a dictionary of best scores plus a heap plus a delegate-compared sort, and the first occurrence of an id in that
/// order is its best score.
/// </remarks>
public sealed class TopKAggregator
{
    private readonly int _k;
    private readonly List<SearchHit> _hits;

    /// <param name="k">Hits kept.</param>
    /// <param name="expectedHits">Hits that will be added, when known (room is made for them up front).</param>
    public TopKAggregator(int k, int expectedHits = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        _k = k;
        _hits = new List<SearchHit>(Math.Max(0, expectedHits));
    }

    public int K => _k;

    public void Add(SearchHit hit) => _hits.Add(hit);

    public void AddRange(ReadOnlySpan<SearchHit> hits) => _hits.AddRange(hits);

    /// <summary>True when <paramref name="a"/> ranks before <paramref name="b"/>.</summary>
    public static bool RanksBefore(SearchHit a, SearchHit b) => a.Score > b.Score || (a.Score == b.Score && a.Id < b.Id);

    /// <summary>The top-k, best first.</summary>
    public SearchHit[] ToArray()
    {
        if (_k == 0 || _hits.Count == 0) return [];
        var all = CollectionsMarshal.AsSpan(_hits);
        all.Sort(default(Ranking));
        var result = new SearchHit[Math.Min(_k, all.Length)];
        var seen = new HashSet<long>(result.Length);
        var n = 0;
        for (var i = 0; i < all.Length && n < result.Length; i++)
        {
            if (seen.Add(all[i].Id)) result[n++] = all[i];
        }
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
