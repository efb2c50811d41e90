using System.Globalization;
using System.Text.Json;
using RecSys.Learning.Ranking;
using RecSys.Ranking.Features;

namespace RecSys.Trainer.Ranking;

/// <summary>Model settings of the three rankers.</summary>
public sealed record RankerModelOptions
{
    // 50 rounds of 7-leaf trees chosen on the validation split (docs/learning-evaluation.md, "A lighter pre-ranker"): the main ranker
    // after its best 500 scores as after 200 x 31 (MovieLens and a generated world, two seeds each), at a fraction of Ranking's
    // scoring cost; the pre-ranker only has to keep the main ranker's best, not to order them.
    public GbdtRankerOptions PreRanker { get; init; } = new() { Iterations = 50, Leaves = 7, LearningRate = 0.05, MinRowsPerLeaf = 50, Threads = 1 };

    // Weight decay 0.3 chosen on the validation split (docs/learning-evaluation.md): ~11k positives over ~200k rows, and the
    // MLP without it overfits the training windows (main ranker 0.137 -> 0.145 nDCG@10 on validation, two seeds).
    public MlpTrainerOptions MainRanker { get; init; } = new() { HiddenLayers = [128, 64], Epochs = 6, BatchSize = 256, WeightDecay = 0.3f };

    public MlpTrainerOptions Student { get; init; } = new() { HiddenLayers = [32, 16], Epochs = 10, BatchSize = 256, WeightDecay = 0.3f };

    /// <summary>Fractions of the groups for training, validation (metrics, importance) and calibration; the rest is unused.</summary>
    public double TrainFraction { get; init; } = 0.8;

    public double ValidationFraction { get; init; } = 0.1;

    /// <summary>Least held-out rows a calibration segment needs for its own calibrator.</summary>
    public int CalibrationMinSegmentRows { get; init; } = 1_000;

    /// <summary>Rows the ONNX parity check scores (repeated rows when the data has fewer).</summary>
    public int ParityRows { get; init; } = 10_000;

    public double ParityTolerance { get; init; } = 1e-5;
}

/// <summary>The trained rankers and how they did on the validation groups.</summary>
internal sealed record TrainedRankers(GbdtModel PreRanker, MlpModel MainRanker, MlpModel Student, SegmentCalibration MainCalibration,
    SegmentCalibration StudentCalibration, IReadOnlyDictionary<string, double> Metrics, IReadOnlyList<double> MainImportance, IReadOnlyList<double> StudentImportance);

/// <summary>The release folder the Ranking service reads: <c>&lt;release&gt;/pre-ranker</c>, <c>main-ranker</c>, <c>student</c>.</summary>
internal static class RankerRelease
{
    public const string PreRankerFolder = "pre-ranker";
    public const string MainRankerFolder = "main-ranker";
    public const string StudentFolder = "student";
    public const string ReportFile = "training-report.json";

    /// <summary>The pre-ranker's columns: the cheap features among those the training set has (a release may leave some out).</summary>
    public static IReadOnlyList<string> CheapColumns(IReadOnlyList<string> columns) =>
        [.. RankingFeatureCatalog.CheapNames.Where(columns.Contains)];

    /// <summary>
    /// Trains the pre-ranker on the cheap columns, the main ranker on all, the student from the main ranker; calibrates on held-out
    /// groups. <paramref name="preRankAll"/>, when given, holds the same groups as <paramref name="all"/> (in the same order) with
    /// the pre-ranker's extra candidates: the pre-ranker trains on its training groups; every metric is taken on <paramref name="all"/>.
    /// </summary>
    public static TrainedRankers Train(RankingDataset all, RankerModelOptions options, TimeProvider time, Action<string>? onStep, CancellationToken cancellationToken,
        RankingDataset? preRankAll = null)
    {
        if (preRankAll is not null && preRankAll.GroupCount != all.GroupCount)
        {
            throw new ArgumentException($"The pre-ranker's rows have {preRankAll.GroupCount:N0} groups, the main rows {all.GroupCount:N0}.", nameof(preRankAll));
        }

        double[] fractions = [options.TrainFraction, options.ValidationFraction, 1 - options.TrainFraction - options.ValidationFraction];
        var parts = all.SplitGroups(fractions);
        var (train, validation, calibration) = (parts[0], parts[1], parts[2]);
        if (train.RowCount == 0 || validation.RowCount == 0 || calibration.RowCount < 2)
        {
            throw new ArgumentException($"Too few groups to train, validate and calibrate ({all.GroupCount:N0} groups).");
        }

        onStep?.Invoke("pre-ranker");
        var cheap = CheapColumns(all.FeatureNames);
        var preTrain = PreRankerTrainingRows(all, options, preRankAll);
        var pre = new GbdtRankerTrainer(options.PreRanker).Train(preTrain.SelectFeatures(cheap), cancellationToken);

        onStep?.Invoke("main ranker");
        var main = new MlpTrainer(options.MainRanker, time).TrainClassifier(train, cancellationToken: cancellationToken);
        var teacherLogits = new float[train.RowCount];
        main.Score(train.Features, teacherLogits);

        onStep?.Invoke("student");
        var student = new MlpTrainer(options.Student, time).TrainStudent(train, teacherLogits, cancellationToken: cancellationToken);

        onStep?.Invoke("calibration");
        var mainCalibration = Calibrate(main, calibration, options.CalibrationMinSegmentRows);
        var studentCalibration = Calibrate(student, calibration, options.CalibrationMinSegmentRows);

        var metrics = new SortedDictionary<string, double>(StringComparer.Ordinal);
        var validationCheap = validation.SelectFeatures(cheap);
        var preScores = new float[validation.RowCount];
        pre.Score(validationCheap.Features, preScores);
        var mainLogits = Scores(main, validation);
        var studentLogits = Scores(student, validation);
        metrics["validation_groups"] = validation.GroupCount;
        metrics["validation_rows"] = validation.RowCount;
        metrics["train_rows"] = train.RowCount;
        metrics["pre_ranker_train_rows"] = preTrain.RowCount;
        metrics["pre_ranker_ndcg10"] = RankerMetrics.MeanNdcg(validation, preScores);
        metrics["main_ranker_ndcg10"] = RankerMetrics.MeanNdcg(validation, mainLogits);
        metrics["student_ndcg10"] = RankerMetrics.MeanNdcg(validation, studentLogits);
        metrics["main_ranker_auc"] = RankerMetrics.Auc(validation.Labels, mainLogits);
        metrics["student_auc"] = RankerMetrics.Auc(validation.Labels, studentLogits);
        metrics["pre_ranker_auc"] = RankerMetrics.Auc(validation.Labels, preScores);
        metrics["student_top10_overlap_with_main"] = RankerMetrics.MeanTopKOverlap(validation, mainLogits, studentLogits);

        onStep?.Invoke("importance");
        var mainImportance = ModelPackage.PermutationImportance(main, validation);
        var studentImportance = ModelPackage.PermutationImportance(student, validation);
        return new TrainedRankers(pre, main, student, mainCalibration, studentCalibration, metrics, mainImportance, studentImportance);
    }

    /// <summary>
    /// A pre-ranker with other settings trained on the rows <see cref="Train"/> gives its own (the same training groups and cheap
    /// columns), for comparing pre-rankers against one main ranker.
    /// </summary>
    public static GbdtModel TrainPreRanker(RankingDataset all, RankerModelOptions options, GbdtRankerOptions preRanker, CancellationToken cancellationToken,
        RankingDataset? preRankAll = null) =>
        new GbdtRankerTrainer(preRanker).Train(PreRankerTrainingRows(all, options, preRankAll).SelectFeatures(CheapColumns(all.FeatureNames)), cancellationToken);

    private static RankingDataset PreRankerTrainingRows(RankingDataset all, RankerModelOptions options, RankingDataset? preRankAll) =>
        (preRankAll ?? all).SplitGroups([options.TrainFraction, options.ValidationFraction, 1 - options.TrainFraction - options.ValidationFraction])[0];

    /// <summary>Writes the three model folders with manifests, checks ONNX parity on <paramref name="parityRows"/>, and the training report.</summary>
    public static IReadOnlyDictionary<string, double> Write(string releaseDirectory, string version, DateTimeOffset createdAt, TrainedRankers rankers,
        RankingDataset parityRows, RankerModelOptions options, IReadOnlyDictionary<string, object> report)
    {
        Directory.CreateDirectory(releaseDirectory);
        var metrics = new Dictionary<string, double>(rankers.Metrics);
        var parity = new SortedDictionary<string, (double Diff, double AtOutput)>(StringComparer.Ordinal);

        var preDir = Path.Combine(releaseDirectory, PreRankerFolder);
        ModelPackage.WriteTrees(preDir, rankers.PreRanker, PreRankerFolder, version, createdAt, Only(metrics, "pre_ranker"));
        var cheapRows = Repeat(parityRows.SelectFeatures(CheapColumns(parityRows.FeatureNames)), options.ParityRows);
        parity["pre_ranker_onnx_max_abs_diff"] = MaxDiff(Path.Combine(preDir, ModelPackage.OnnxFile), OnnxExport.ScoreOutput, cheapRows,
            rankers.PreRanker.FeatureNames.Count, (rows, scores) => rankers.PreRanker.Score(rows, scores));

        var allRows = Repeat(parityRows, options.ParityRows);
        var mainDir = Path.Combine(releaseDirectory, MainRankerFolder);
        ModelPackage.WriteMlp(mainDir, rankers.MainRanker, MainRankerFolder, version, createdAt, rankers.MainImportance, Only(metrics, "main_ranker"), rankers.MainCalibration);
        parity["main_ranker_onnx_max_abs_diff"] = MaxDiff(Path.Combine(mainDir, ModelPackage.OnnxFile), OnnxExport.LogitOutput, allRows,
            rankers.MainRanker.FeatureNames.Count, (rows, scores) => rankers.MainRanker.Score(rows, scores));

        var studentDir = Path.Combine(releaseDirectory, StudentFolder);
        ModelPackage.WriteMlp(studentDir, rankers.Student, StudentFolder, version, createdAt, rankers.StudentImportance, Only(metrics, "student"), rankers.StudentCalibration);
        parity["student_onnx_max_abs_diff"] = MaxDiff(Path.Combine(studentDir, ModelPackage.OnnxFile), OnnxExport.LogitOutput, allRows,
            rankers.Student.FeatureNames.Count, (rows, scores) => rankers.Student.Score(rows, scores));

        foreach (var (name, (diff, _)) in parity)
        {
            metrics[name] = diff;
        }

        var full = new SortedDictionary<string, object>(report.ToDictionary(), StringComparer.Ordinal)
        {
            ["version"] = version,
            ["createdAt"] = createdAt,
            ["metrics"] = new SortedDictionary<string, double>(metrics, StringComparer.Ordinal),
            ["preRankerFeatures"] = rankers.PreRanker.FeatureNames,
            ["mainRankerFeatures"] = rankers.MainRanker.FeatureNames,
        };
        File.WriteAllText(Path.Combine(releaseDirectory, ReportFile), JsonSerializer.Serialize(full, new JsonSerializerOptions { WriteIndented = true }));
        foreach (var (name, (diff, at)) in parity)
        {
            // Absolute up to outputs of magnitude 1, relative beyond: float32 logits near -9 differ by ~10 ULPs (1e-5) between
            // the C# scorer and ONNX Runtime's kernels (different summation order), which is rounding, not a wrong graph.
            if (!(diff <= options.ParityTolerance * Math.Max(1, Math.Abs(at))))
            {
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                    $"ONNX parity failed: {name} = {diff:G3} > {options.ParityTolerance:G3} x max(1, |output|) on {options.ParityRows:N0} rows, at an output of {at:G4} (report kept in {ReportFile})."));
            }
        }

        return metrics;
    }

    private static SegmentCalibration Calibrate(MlpModel model, RankingDataset heldOut, int minSegmentRows)
    {
        var logits = Scores(model, heldOut);
        return SegmentCalibration.Fit(logits, heldOut.Labels.Select(l => l > 0 ? 1f : 0f).ToArray(), heldOut.Weights, heldOut.Segments, minSegmentRows);
    }

    private static float[] Scores(MlpModel model, RankingDataset data)
    {
        var logits = new float[data.RowCount];
        model.Score(data.Features, logits);
        return logits;
    }

    private static Dictionary<string, double> Only(Dictionary<string, double> metrics, string prefix) =>
        metrics.Where(m => m.Key.StartsWith(prefix, StringComparison.Ordinal) || (!m.Key.Contains("ranker", StringComparison.Ordinal) && !m.Key.StartsWith("student", StringComparison.Ordinal)))
            .ToDictionary(m => m.Key, m => m.Value, StringComparer.Ordinal);

    /// <summary>The first <paramref name="count"/> rows of <paramref name="data"/>, cycling when it has fewer.</summary>
    private static float[] Repeat(RankingDataset data, int count)
    {
        var width = data.FeatureCount;
        var rows = new float[count * width];
        for (var r = 0; r < count; r++)
        {
            data.Row(r % data.RowCount).CopyTo(rows.AsSpan(r * width, width));
        }

        return rows;
    }

    /// <summary>The largest |C# - ONNX| output difference and the C# output where it occurred.</summary>
    private static (double Diff, double AtOutput) MaxDiff(string onnxPath, string output, float[] rows, int width, Action<float[], float[]> reference)
    {
        var n = rows.Length / width;
        var expected = new float[n];
        reference(rows, expected);
        var actual = new float[n];
        using (var scorer = new OnnxScorer(onnxPath, output))
        {
            scorer.ScoreAll(rows, actual);
        }

        double max = 0, worst = 0;
        for (var i = 0; i < n; i++)
        {
            var diff = Math.Abs(expected[i] - actual[i]);
            if (diff > max)
            {
                (max, worst) = (diff, expected[i]);
            }
        }

        return (max, worst);
    }
}
