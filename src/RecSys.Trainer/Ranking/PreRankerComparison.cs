using System.Diagnostics;
using System.Globalization;
using RecSys.Learning.Ranking;
using RecSys.Ranking.Models;

namespace RecSys.Trainer.Ranking;

/// <summary>One pre-ranker setting of <c>--compare-pre-rankers</c>: boosting rounds, leaves per tree and learning rate.</summary>
internal sealed record PreRankerSetting(int Rounds, int Leaves, double LearningRate)
{
    /// <summary>
    /// Parses <c>ROUNDSxLEAVES</c> or <c>ROUNDSxLEAVES@RATE</c> (e.g. <c>50x15</c>, <c>50x15@0.1</c>); the rate defaults to
    /// <paramref name="defaultRate"/>.
    /// </summary>
    public static PreRankerSetting Parse(string text, double defaultRate)
    {
        ArgumentNullException.ThrowIfNull(text);
        var (shape, rateText) = text.IndexOf('@', StringComparison.Ordinal) is var at and >= 0 ? (text[..at], text[(at + 1)..]) : (text, null);
        var parts = shape.Split('x', 'X');
        if (parts.Length != 2
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var rounds)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var leaves))
        {
            throw new FormatException($"'{text}' is not ROUNDSxLEAVES or ROUNDSxLEAVES@RATE (e.g. 50x15 or 50x15@0.1).");
        }

        var rate = defaultRate;
        if (rateText is not null && !double.TryParse(rateText, NumberStyles.Float, CultureInfo.InvariantCulture, out rate))
        {
            throw new FormatException($"'{text}': the learning rate '{rateText}' is not a number.");
        }

        return new PreRankerSetting(rounds, leaves, rate);
    }

    public static PreRankerSetting Of(GbdtRankerOptions options) => new(options.Iterations, options.Leaves, options.LearningRate);

    public GbdtRankerOptions Apply(GbdtRankerOptions options) => options with { Iterations = Rounds, Leaves = Leaves, LearningRate = LearningRate };

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Rounds}x{Leaves}@{LearningRate:0.###}");
}

/// <summary>How far a pre-ranker's kept candidates hold the main ranker's best, and what scoring 5,000 rows costs in serving's compiled trees.</summary>
internal static class PreRankerComparison
{
    /// <summary>Rows one cost measurement scores (about the candidates of one request).</summary>
    public const int CostRows = 5_000;

    /// <summary>
    /// Mean over the groups of the share of the main ranker's top <paramref name="k"/> (over all of a group's rows) that are among
    /// the pre-ranker's top <paramref name="keep"/>; ties broken by row order, as the evaluation's lists are.
    /// </summary>
    public static double RecallOfMainTop(RankingDataset data, ReadOnlySpan<float> main, ReadOnlySpan<float> pre, int keep, int k)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(keep, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        double sum = 0;
        var groups = 0;
        for (var g = 0; g < data.GroupCount; g++)
        {
            var (start, end) = data.Group(g);
            if (end - start == 0)
            {
                continue;
            }

            var kept = new HashSet<int>(Top(pre, start, end, keep));
            var best = Top(main, start, end, k);
            sum += best.Count(kept.Contains) / (double)best.Length;
            groups++;
        }

        return groups == 0 ? 0 : sum / groups;
    }

    private static int[] Top(ReadOnlySpan<float> scores, int start, int end, int count)
    {
        var group = scores[start..end].ToArray();
        // OrderByDescending is stable: equal scores keep row order.
        return [.. Enumerable.Range(0, group.Length).OrderByDescending(i => group[i]).Take(count).Select(i => start + i)];
    }

    /// <summary>Compiles <paramref name="model"/> as Ranking does (its ONNX graph into <see cref="CompiledTreeEnsemble"/>).</summary>
    public static CompiledTreeEnsemble Compile(GbdtModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return CompiledTreeEnsemble.TryCompile(OnnxExport.FromTrees(model, "pre-ranker"), model.FeatureNames.Count, out var reason)
            ?? throw new InvalidOperationException($"The pre-ranker does not compile: {reason}");
    }

    /// <summary>
    /// Median microseconds per <see cref="CostRows"/> rows of each ensemble, measured in interleaved rounds in this process (so that
    /// load on a shared machine touches all alike; compare the ratios, not the absolute times). Each round scores another window of
    /// <see cref="CostRows"/> consecutive rows of <paramref name="rows"/> (cycled when fewer), spread over the data: the compiled
    /// trees stop a feature's thresholds early when a block of rows is below them, so the cost depends on the rows, and consecutive
    /// rows are one request's candidates in retrieval order, as Ranking sees them.
    /// </summary>
    public static double[] MedianMicrosecondsPer5000Rows(IReadOnlyList<CompiledTreeEnsemble> ensembles, ReadOnlySpan<float> rows, int width, int rounds = 15, int repeats = 3)
    {
        ArgumentNullException.ThrowIfNull(ensembles);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(rounds, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        var available = rows.Length / width;
        if (available == 0)
        {
            throw new ArgumentException("No rows to time.", nameof(rows));
        }

        var batches = new float[rounds][];
        for (var round = 0; round < rounds; round++)
        {
            var first = (int)((long)round * available / rounds);
            var batch = batches[round] = new float[CostRows * width];
            for (var r = 0; r < CostRows; r++)
            {
                rows.Slice((first + r) % available * width, width).CopyTo(batch.AsSpan(r * width, width));
            }
        }

        var scores = new float[CostRows];
        foreach (var ensemble in ensembles)
        {
            ensemble.Score(batches[0], scores); // warm-up: JIT and caches
        }

        var times = ensembles.Select(_ => new double[rounds]).ToArray();
        for (var round = 0; round < rounds; round++)
        {
            for (var m = 0; m < ensembles.Count; m++)
            {
                var start = Stopwatch.GetTimestamp();
                for (var i = 0; i < repeats; i++)
                {
                    ensembles[m].Score(batches[round], scores);
                }

                times[m][round] = Stopwatch.GetElapsedTime(start).TotalMicroseconds / repeats;
            }
        }

        return [.. times.Select(t => t.Order().ElementAt(t.Length / 2))];
    }
}
