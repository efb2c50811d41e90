namespace RecSys.Learning.Ranking;

/// <summary>Offline metrics of a scorer on a <see cref="RankingDataset"/>.</summary>
public static class RankerMetrics
{
    /// <summary>
    /// Mean nDCG@k over groups with at least one positive label: rows ranked by score (ties by row order), gain 2^label - 1,
    /// discount 1/log2(rank + 1), divided by the same sum for the rows sorted by label.
    /// </summary>
    public static double MeanNdcg(RankingDataset data, ReadOnlySpan<float> scores, int k = 10)
    {
        ArgumentNullException.ThrowIfNull(data);
        CheckLength(data, scores);
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        double sum = 0;
        var counted = 0;
        for (var g = 0; g < data.GroupCount; g++)
        {
            var (start, end) = data.Group(g);
            var ndcg = GroupNdcg(data.Labels.AsSpan(start, end - start), scores[start..end], k);
            if (ndcg is { } value)
            {
                sum += value;
                counted++;
            }
        }

        return counted == 0 ? 0 : sum / counted;
    }

    /// <summary>nDCG@k of one group, or null when it has no positive label.</summary>
    public static double? GroupNdcg(ReadOnlySpan<float> labels, ReadOnlySpan<float> scores, int k)
    {
        var n = labels.Length;
        var byScore = RankOrder(scores);
        var byLabel = RankOrder(labels);
        double dcg = 0, ideal = 0;
        for (var r = 0; r < Math.Min(k, n); r++)
        {
            var discount = 1 / Math.Log2(r + 2);
            dcg += (Math.Pow(2, labels[byScore[r]]) - 1) * discount;
            ideal += (Math.Pow(2, labels[byLabel[r]]) - 1) * discount;
        }

        return ideal > 0 ? dcg / ideal : null;
    }

    /// <summary>Mean overlap of the top-k sets of two scorers per group (agreement of a student with its teacher).</summary>
    public static double MeanTopKOverlap(RankingDataset data, ReadOnlySpan<float> a, ReadOnlySpan<float> b, int k = 10)
    {
        ArgumentNullException.ThrowIfNull(data);
        CheckLength(data, a);
        CheckLength(data, b);
        double sum = 0;
        for (var g = 0; g < data.GroupCount; g++)
        {
            var (start, end) = data.Group(g);
            var take = Math.Min(k, end - start);
            var topA = RankOrder(a[start..end]).Take(take).ToHashSet();
            sum += (double)RankOrder(b[start..end]).Take(take).Count(topA.Contains) / take;
        }

        return sum / data.GroupCount;
    }

    /// <summary>Area under the ROC curve of scores against binary labels (label > 0 is positive), ties counted half.</summary>
    public static double Auc(ReadOnlySpan<float> labels, ReadOnlySpan<float> scores)
    {
        if (labels.Length != scores.Length)
        {
            throw new ArgumentException("Labels and scores differ in length.", nameof(scores));
        }

        var order = RankOrder(scores);
        Array.Reverse(order); // ascending score
        double positives = 0, negatives = 0, rankSum = 0;
        var i = 0;
        while (i < order.Length)
        {
            var j = i;
            while (j + 1 < order.Length && scores[order[j + 1]] == scores[order[i]])
            {
                j++;
            }

            var midRank = ((i + j) / 2.0) + 1;
            for (var t = i; t <= j; t++)
            {
                if (labels[order[t]] > 0)
                {
                    positives++;
                    rankSum += midRank;
                }
                else
                {
                    negatives++;
                }
            }

            i = j + 1;
        }

        if (positives == 0 || negatives == 0)
        {
            throw new ArgumentException("AUC needs both positive and negative labels.", nameof(labels));
        }

        return (rankSum - (positives * (positives + 1) / 2)) / (positives * negatives);
    }

    /// <summary>Weighted mean binary log loss of probabilities (clipped to [1e-7, 1 - 1e-7]).</summary>
    public static double LogLoss(ReadOnlySpan<float> labels, ReadOnlySpan<float> probabilities, ReadOnlySpan<float> weights)
    {
        CheckSame(labels, probabilities, weights);
        double loss = 0, total = 0;
        for (var i = 0; i < labels.Length; i++)
        {
            var p = Math.Clamp(probabilities[i], 1e-7, 1 - 1e-7);
            loss -= weights[i] * ((labels[i] * Math.Log(p)) + ((1 - labels[i]) * Math.Log(1 - p)));
            total += weights[i];
        }

        return total > 0 ? loss / total : throw new ArgumentException("The weights sum to zero.", nameof(weights));
    }

    /// <summary>Expected calibration error: weighted mean |mean label - mean probability| over equal-width probability bins.</summary>
    public static double ExpectedCalibrationError(ReadOnlySpan<float> labels, ReadOnlySpan<float> probabilities, ReadOnlySpan<float> weights, int bins = 15)
    {
        CheckSame(labels, probabilities, weights);
        ArgumentOutOfRangeException.ThrowIfLessThan(bins, 1);
        var weight = new double[bins];
        var labelSum = new double[bins];
        var probabilitySum = new double[bins];
        double total = 0;
        for (var i = 0; i < labels.Length; i++)
        {
            var b = Math.Clamp((int)(probabilities[i] * bins), 0, bins - 1);
            weight[b] += weights[i];
            labelSum[b] += weights[i] * labels[i];
            probabilitySum[b] += weights[i] * probabilities[i];
            total += weights[i];
        }

        double ece = 0;
        for (var b = 0; b < bins; b++)
        {
            ece += Math.Abs(labelSum[b] - probabilitySum[b]) / total;
        }

        return ece;
    }

    public static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));

    /// <summary>Row indices sorted by descending value, ties by index (stable, so rankings are reproducible).</summary>
    private static int[] RankOrder(ReadOnlySpan<float> values)
    {
        var copy = values.ToArray();
        var order = Enumerable.Range(0, copy.Length).ToArray();
        Array.Sort(order, (x, y) => copy[y].CompareTo(copy[x]) is var c && c != 0 ? c : x.CompareTo(y));
        return order;
    }

    private static void CheckLength(RankingDataset data, ReadOnlySpan<float> scores)
    {
        if (scores.Length != data.RowCount)
        {
            throw new ArgumentException($"Expected {data.RowCount} scores, got {scores.Length}.", nameof(scores));
        }
    }

    private static void CheckSame(ReadOnlySpan<float> labels, ReadOnlySpan<float> probabilities, ReadOnlySpan<float> weights)
    {
        if (labels.Length != probabilities.Length || labels.Length != weights.Length)
        {
            throw new ArgumentException("Labels, probabilities and weights differ in length.");
        }
    }
}
