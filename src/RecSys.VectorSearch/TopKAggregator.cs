namespace RecSys.VectorSearch;

/// <summary>
/// Merges hits from several sources into a global top-k: best score first, ties by ascending id, duplicates of an id
/// collapsed to their best score (like Qdrant's SearchResultAggregator). O(n log k); not thread-safe.
/// </summary>
public sealed class TopKAggregator
{
    private readonly int _k;
    private readonly Dictionary<long, float> _best = [];

    public TopKAggregator(int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        _k = k;
    }

    public int K => _k;

    public void Add(SearchHit hit)
    {
        if (!_best.TryGetValue(hit.Id, out var s) || hit.Score > s) _best[hit.Id] = hit.Score;
    }

    public void AddRange(ReadOnlySpan<SearchHit> hits)
    {
        foreach (var h in hits) Add(h);
    }

    /// <summary>True when <paramref name="a"/> ranks before <paramref name="b"/>.</summary>
    public static bool RanksBefore(SearchHit a, SearchHit b) => a.Score > b.Score || (a.Score == b.Score && a.Id < b.Id);

    /// <summary>The top-k, best first.</summary>
    public SearchHit[] ToArray()
    {
        // Min-heap (worst at the root) of at most k hits.
        var heap = new SearchHit[Math.Min(_k, _best.Count)];
        var count = 0;
        if (heap.Length == 0) return [];
        foreach (var (id, score) in _best)
        {
            var h = new SearchHit(id, score);
            if (count < heap.Length)
            {
                var i = count++;
                while (i > 0)
                {
                    var p = (i - 1) >> 1;
                    if (!RanksBefore(heap[p], h)) break;
                    heap[i] = heap[p];
                    i = p;
                }
                heap[i] = h;
            }
            else if (RanksBefore(h, heap[0]))
            {
                var i = 0;
                while (true)
                {
                    var c = (i << 1) + 1;
                    if (c >= count) break;
                    if (c + 1 < count && RanksBefore(heap[c], heap[c + 1])) c++;
                    if (!RanksBefore(h, heap[c])) break;
                    heap[i] = heap[c];
                    i = c;
                }
                heap[i] = h;
            }
        }
        Array.Sort(heap, (a, b) => RanksBefore(a, b) ? -1 : RanksBefore(b, a) ? 1 : 0);
        return heap;
    }
}
