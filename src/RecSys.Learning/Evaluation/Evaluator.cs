using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace RecSys.Learning.Evaluation;

/// <summary>Scores of one recommender: at 10, at 20 and the curve k = 1..MaxK (index k-1).</summary>
public sealed record RecommenderScore(string Name, int UsersEvaluated, double FitSeconds, double EvaluateSeconds, IReadOnlyList<MetricSet> Curve)
{
    public MetricSet At(int k) =>
        k >= 1 && k <= Curve.Count ? Curve[k - 1] : throw new ArgumentOutOfRangeException(nameof(k), k, $"Curve covers k = 1..{Curve.Count}.");
}

/// <summary>An evaluation run: the data and split, and every recommender scored by the same code.</summary>
public sealed record EvaluationReport(
    string Dataset,
    string Split,
    int Users,
    int Items,
    int TrainInteractions,
    int TestInteractions,
    IReadOnlyList<RecommenderScore> Recommenders)
{
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static EvaluationReport FromJson(string json) =>
        JsonSerializer.Deserialize<EvaluationReport>(json, JsonOptions) ?? throw new ArgumentException("Empty evaluation report JSON.", nameof(json));

    /// <summary>A Markdown table per cut-off (10 and 20 by default).</summary>
    public string ToMarkdown(params int[] cutoffs)
    {
        if (cutoffs.Length == 0)
        {
            cutoffs = [10, 20];
        }

        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(c, $"**{Dataset}**, split {Split}: {Users} users evaluated of the catalogue's {Items} items, ")
            .Append(c, $"{TrainInteractions} training and {TestInteractions} held-out interactions.\n\n");
        foreach (var k in cutoffs)
        {
            sb.Append(c, $"| recommender | nDCG@{k} | precision@{k} | recall@{k} | MAP@{k} | hit rate@{k} | coverage@{k} | fit s |\n");
            sb.Append("|---|---:|---:|---:|---:|---:|---:|---:|\n");
            foreach (var r in Recommenders)
            {
                var m = r.At(k);
                sb.Append(c, $"| {r.Name} | {m.Ndcg:F4} | {m.Precision:F4} | {m.Recall:F4} | {m.Map:F4} | {m.HitRate:F4} | {m.Coverage:F4} | {r.FitSeconds:F1} |\n");
            }

            sb.Append('\n');
        }

        return sb.ToString();
    }
}

/// <summary>
/// Scores recommenders on a <see cref="DataSplit"/>: every user with held-out items asks for MaxK items, metrics are
/// averaged over those users at every k (summed in user order, so results do not depend on threads), and catalogue
/// coverage@k is the share of catalogue items that appear in at least one user's top k.
/// </summary>
public static class Evaluator
{
    public static RecommenderScore Evaluate(IRecommender recommender, DataSplit split, int maxK = 50, double fitSeconds = 0, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(recommender);
        ArgumentNullException.ThrowIfNull(split);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxK, 1);
        time ??= TimeProvider.System;
        var started = time.GetTimestamp();
        var users = Enumerable.Range(0, split.Test.Count).Where(u => split.Test[u].Length > 0).ToArray();
        var lists = new int[users.Length][];
        Parallel.For(0, users.Length, idx =>
        {
            var buffer = new int[maxK];
            var n = recommender.Recommend(users[idx], buffer);
            lists[idx] = buffer[..n];
        });

        var ndcg = new double[maxK];
        var precision = new double[maxK];
        var recall = new double[maxK];
        var map = new double[maxK];
        var hit = new double[maxK];
        var firstRank = new int[split.Train.ItemCount];
        firstRank.AsSpan().Fill(int.MaxValue);
        for (var idx = 0; idx < users.Length; idx++)
        {
            RankingMetrics.Accumulate(lists[idx], split.Test[users[idx]], ndcg, precision, recall, map, hit);
            for (var r = 0; r < lists[idx].Length; r++)
            {
                var item = lists[idx][r];
                firstRank[item] = Math.Min(firstRank[item], r);
            }
        }

        var coveredAt = new int[maxK];
        foreach (var rank in firstRank)
        {
            if (rank < maxK)
            {
                coveredAt[rank]++;
            }
        }

        var curve = new MetricSet[maxK];
        var count = Math.Max(1, users.Length);
        var covered = 0;
        for (var k = 1; k <= maxK; k++)
        {
            covered += coveredAt[k - 1];
            curve[k - 1] = new MetricSet(k, ndcg[k - 1] / count, precision[k - 1] / count, recall[k - 1] / count, map[k - 1] / count,
                hit[k - 1] / count, (double)covered / Math.Max(1, split.Train.ItemCount));
        }

        return new RecommenderScore(recommender.Name, users.Length, fitSeconds, time.GetElapsedTime(started).TotalSeconds, curve);
    }

    /// <summary>Fits each recommender (timed) and scores it on the split.</summary>
    public static EvaluationReport Run(string dataset, DataSplit split, IEnumerable<Func<IRecommender>> fitters, int maxK = 50, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(fitters);
        time ??= TimeProvider.System;
        var scores = new List<RecommenderScore>();
        foreach (var fit in fitters)
        {
            var started = time.GetTimestamp();
            var recommender = fit();
            var fitSeconds = time.GetElapsedTime(started).TotalSeconds;
            scores.Add(Evaluate(recommender, split, maxK, fitSeconds, time));
        }

        var evaluated = split.Test.Count(t => t.Length > 0);
        return new EvaluationReport(dataset, split.Name, evaluated, split.Train.ItemCount, split.Train.InteractionCount, split.TestInteractions, scores);
    }
}
