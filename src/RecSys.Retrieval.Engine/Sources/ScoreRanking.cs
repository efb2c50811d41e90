using System.Buffers;
using RecSys.Candidates;
namespace RecSys.Retrieval.Sources;

/// <summary>Turns accumulated raw scores into a source's ranked, [0, 1]-normalized list.</summary>
internal static class ScoreRanking
{
    /// <summary>
    /// The <paramref name="budget"/> best entries (score descending, ties by item id), each divided by the best score.
    /// Entries with a non-positive or non-finite score are dropped: they carry no evidence.
    /// </summary>
    public static IReadOnlyList<ScoredItem> TopNormalized(Dictionary<string, double> scores, int budget)
    {
        if (scores.Count == 0 || budget <= 0)
        {
            return [];
        }

        // Sorted in a pooled array: only the kept prefix is allocated.
        var entries = ArrayPool<ScoredItem>.Shared.Rent(scores.Count);
        try
        {
            var n = 0;
            foreach (var (item, score) in scores)
            {
                if (double.IsFinite(score) && score > 0)
                {
                    entries[n++] = new ScoredItem(item, score);
                }
            }

            var span = entries.AsSpan(0, n);
            SortByScoreThenId(span);

            var take = Math.Min(budget, n);
            if (take == 0)
            {
                return [];
            }

            var max = span[0].Score;
            var result = new ScoredItem[take];
            for (var i = 0; i < take; i++)
            {
                result[i] = new ScoredItem(span[i].ItemId, Math.Clamp(span[i].Score / max, 0, 1));
            }

            return result;
        }
        finally
        {
            // Cleared: the pool must not keep this request's id strings alive.
            ArrayPool<ScoredItem>.Shared.Return(entries, clearArray: true);
        }
    }

    [ThreadStatic]
    private static Dictionary<string, double>? t_scores;

    /// <summary>
    /// An empty score table of this thread's, kept between calls (a source's table of a few thousand ids was allocated per
    /// request before). Valid until the next call on the same thread: take it, fill it and hand it to
    /// <see cref="TopNormalized"/> with no await in between.
    /// </summary>
    public static Dictionary<string, double> ScratchScores()
    {
        var scores = t_scores ??= new Dictionary<string, double>(StringComparer.Ordinal);
        scores.Clear();
        return scores;
    }

    /// <summary>
    /// Score descending, ties by item id (ordinal): sorted by the negated score as a primitive key (the runtime's specialized
    /// sort, no comparison delegate per step), then each run of equal scores by id. The same total order as comparing both.
    /// </summary>
    internal static void SortByScoreThenId(Span<ScoredItem> items)
    {
        var keys = ArrayPool<double>.Shared.Rent(items.Length);
        try
        {
            var negated = keys.AsSpan(0, items.Length);
            for (var i = 0; i < items.Length; i++)
            {
                negated[i] = -items[i].Score;
            }

            negated.Sort(items);
            for (var start = 0; start < items.Length;)
            {
                var end = start + 1;
                while (end < items.Length && negated[end].Equals(negated[start]))
                {
                    end++;
                }

                if (end - start > 1)
                {
                    items[start..end].Sort(static (a, b) => string.CompareOrdinal(a.ItemId, b.ItemId));
                }

                start = end;
            }
        }
        finally
        {
            ArrayPool<double>.Shared.Return(keys);
        }
    }

    /// <summary>How deep to read one list: <paramref name="wanted"/> rounded up, within [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public static int ReadDepth(double wanted, int min, int max)
    {
        max = Math.Max(min, max);
        return double.IsFinite(wanted) ? (int)Math.Clamp(Math.Ceiling(wanted), min, max) : max;
    }

    /// <summary>Exponential decay: 1 at distance 0, 1/2 at <paramref name="halfLife"/>, ... (negative distances count as 0).</summary>
    public static double Decay(double distance, double halfLife) => Math.Pow(2, -Math.Max(0, distance) / halfLife);
}
