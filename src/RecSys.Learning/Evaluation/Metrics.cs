namespace RecSys.Learning.Evaluation;

/// <summary>Ranking metrics of one list at one cut-off, or their mean over users.</summary>
public sealed record MetricSet(int K, double Ndcg, double Precision, double Recall, double Map, double HitRate, double Coverage);

/// <summary>
/// Binary-relevance ranking metrics for one user, at every cut-off 1..maxK in one pass over the list:
/// precision@k = hits/k; recall@k = hits/|relevant|; hit rate@k = 1 if any hit;
/// nDCG@k = sum_{hit at rank r} 1/log2(r+1) divided by the same sum for min(|relevant|, k) hits at the top;
/// MAP@k (average precision) = sum_{hit at rank r} precision@r / min(|relevant|, k).
/// </summary>
public static class RankingMetrics
{
    /// <summary>
    /// Adds this user's metrics at k = 1..<paramref name="ndcg"/>.Length into the accumulators (index k-1).
    /// <paramref name="relevant"/> must be sorted ascending.
    /// </summary>
    public static void Accumulate(ReadOnlySpan<int> ranked, ReadOnlySpan<int> relevant,
        Span<double> ndcg, Span<double> precision, Span<double> recall, Span<double> map, Span<double> hitRate)
    {
        var maxK = ndcg.Length;
        if (precision.Length != maxK || recall.Length != maxK || map.Length != maxK || hitRate.Length != maxK)
        {
            throw new ArgumentException("Every accumulator must have the same length (the largest k).");
        }

        if (relevant.IsEmpty)
        {
            throw new ArgumentException("A user with no relevant items cannot be scored.", nameof(relevant));
        }

        double dcg = 0, idcg = 0, precisionSum = 0;
        var hits = 0;
        for (var k = 1; k <= maxK; k++)
        {
            var discount = 1.0 / Math.Log2(k + 1);
            if (k <= relevant.Length)
            {
                idcg += discount;
            }

            if (k <= ranked.Length && relevant.BinarySearch(ranked[k - 1]) >= 0)
            {
                hits++;
                dcg += discount;
                precisionSum += (double)hits / k;
            }

            ndcg[k - 1] += dcg / idcg;
            precision[k - 1] += (double)hits / k;
            recall[k - 1] += (double)hits / relevant.Length;
            map[k - 1] += precisionSum / Math.Min(relevant.Length, k);
            hitRate[k - 1] += hits > 0 ? 1 : 0;
        }
    }

    /// <summary>The metrics of one ranked list at cut-off <paramref name="k"/> (coverage left 0).</summary>
    public static MetricSet At(ReadOnlySpan<int> ranked, ReadOnlySpan<int> relevant, int k)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        Span<double> buffer = new double[5 * k];
        RankingMetrics.Accumulate(ranked, relevant, buffer[..k], buffer.Slice(k, k), buffer.Slice(2 * k, k), buffer.Slice(3 * k, k), buffer.Slice(4 * k, k));
        return new MetricSet(k, buffer[k - 1], buffer[(2 * k) - 1], buffer[(3 * k) - 1], buffer[(4 * k) - 1], buffer[(5 * k) - 1], 0);
    }
}
