using System.Diagnostics;
using System.Globalization;
using System.Runtime.Intrinsics;
using RecSys.Learning.Ranking;

namespace RecSys.Learning.Bench;

/// <summary>
/// The rankers end to end on a synthetic world: pre-ranker (LightGBM LambdaRank), teacher MLP, distilled student,
/// per-segment calibration, ONNX export with parity checks, and ONNX Runtime throughput of all three side by side.
/// Usage: rankers [--groups 12000] [--candidates 20] [--teacher 256,128,64] [--student 64,32] [--epochs 2] [--student-epochs 10]
///                [--trees 200] [--out /tmp/recsys-rankers] [--seconds 0.3] [--rounds 5]
/// </summary>
internal static class RankerBench
{
    public static int Run(string[] args)
    {
        int groups = 12_000, candidates = 20, epochs = 2, studentEpochs = 10, trees = 200, rounds = 5;
        int[] teacherLayers = [256, 128, 64], studentLayers = [64, 32];
        var seconds = 0.3;
        var output = Path.Combine(Path.GetTempPath(), "recsys-rankers");
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            int NextInt() => int.TryParse(Next(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v > 0 ? v : throw new ArgumentException($"{args[i - 1]} needs a positive integer.");
            int[] NextLayers() => [.. Next().Split(',').Select(s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v > 0 ? v : throw new ArgumentException($"{args[i - 1]} needs widths like 256,128,64."))];
            switch (args[i])
            {
                case "--groups": groups = NextInt(); break;
                case "--candidates": candidates = NextInt(); break;
                case "--epochs": epochs = NextInt(); break;
                case "--student-epochs": studentEpochs = NextInt(); break;
                case "--trees": trees = NextInt(); break;
                case "--rounds": rounds = NextInt(); break;
                case "--teacher": teacherLayers = NextLayers(); break;
                case "--student": studentLayers = NextLayers(); break;
                case "--out": output = Next(); break;
                case "--seconds": seconds = double.TryParse(Next(), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s > 0 ? s : throw new ArgumentException("--seconds needs a positive number."); break;
                default: throw new ArgumentException($"Unknown option '{args[i]}' for rankers.");
            }
        }

        var c = CultureInfo.InvariantCulture;
        Console.WriteLine($"CPU: {BenchArgs.CpuModel()}; {Environment.ProcessorCount} logical cores; Vector512 {Vector512.IsHardwareAccelerated}, Vector256 {Vector256.IsHardwareAccelerated}");
        var sw = Stopwatch.StartNew();
        var world = new SyntheticRankingOptions { Users = 20_000, Items = 50_000, Groups = groups, CandidatesPerGroup = candidates, EmbeddingDimension = 16, Seed = 11 };
        var all = SyntheticRankingData.Generate(world);
        var parts = all.SplitGroups(0.7, 0.15, 0.15);
        var (train, calibrationSet, test) = (parts[0], parts[1], parts[2]);
        Console.WriteLine(string.Create(c, $"World: {all.RowCount:N0} rows in {all.GroupCount:N0} groups, {all.FeatureCount} features, click rate {all.Labels.Average():F3}; split train {train.RowCount:N0} / calibration {calibrationSet.RowCount:N0} / test {test.RowCount:N0} rows ({sw.Elapsed.TotalSeconds:F1} s)"));
        var version = "bench-" + DateTimeOffset.UtcNow.ToString("yyyyMMddHHmmss", c);
        var created = DateTimeOffset.UtcNow;

        // Pre-ranker on the cheap features.
        var cheap = SyntheticRankingData.CheapFeatureNames;
        var cheapTrain = train.SelectFeatures(cheap);
        var cheapTest = test.SelectFeatures(cheap);
        sw.Restart();
        var gbdt = new GbdtRankerTrainer(new GbdtRankerOptions { Iterations = trees, Leaves = 31, MinRowsPerLeaf = 50, Threads = 1 }).Train(cheapTrain);
        var gbdtSeconds = sw.Elapsed.TotalSeconds;
        var gbdtScores = new float[test.RowCount];
        gbdt.Score(cheapTest.Features, gbdtScores);
        var gbdtNdcg = RankerMetrics.MeanNdcg(test, gbdtScores);
        var gbdtDir = Path.Combine(output, "pre-ranker");
        ModelPackage.WriteTrees(gbdtDir, gbdt, "pre-ranker", version, created, new Dictionary<string, double> { ["ndcg@10"] = gbdtNdcg, ["auc"] = RankerMetrics.Auc(test.Labels, gbdtScores) });
        var parityRows = Math.Min(10_000, test.RowCount);
        var gbdtReference = gbdt.PredictWithLightGbm(cheapTest.Features[..(parityRows * cheap.Count)], parityRows).Select(v => (float)v).ToArray();
        var gbdtParity = Parity(gbdtDir, OnnxExport.ScoreOutput, cheapTest.Features, gbdtReference, parityRows);
        Console.WriteLine(string.Create(c, $"Pre-ranker: {gbdt.Trees.Count} trees x {31} leaves trained in {gbdtSeconds:F1} s; test nDCG@10 {gbdtNdcg:F4}; ONNX vs LightGBM max |diff| on {parityRows:N0} rows {gbdtParity:E2}"));
        var top = gbdt.FeatureNames.Zip(gbdt.FeatureGain).OrderByDescending(p => p.Second).Take(6);
        Console.WriteLine("  top gain: " + string.Join(", ", top.Select(p => string.Create(c, $"{p.First} {p.Second:F0}"))));

        // Teacher.
        sw.Restart();
        var teacher = new MlpTrainer(new MlpTrainerOptions { HiddenLayers = teacherLayers, Epochs = epochs, Seed = 1 })
            .TrainClassifier(train, r => Console.WriteLine(string.Create(c, $"  teacher epoch {r.Epoch}/{r.TotalEpochs}: loss {r.Loss:F4}, {r.Elapsed.TotalSeconds:F1} s")));
        var teacherSeconds = sw.Elapsed.TotalSeconds;
        var teacherTest = Score(teacher, test);
        var teacherNdcg = RankerMetrics.MeanNdcg(test, teacherTest);
        var teacherAuc = RankerMetrics.Auc(test.Labels, teacherTest);

        // Calibration of the teacher on the held-out calibration split, judged on the test split.
        var teacherCalibrationLogits = Score(teacher, calibrationSet);
        var calibration = SegmentCalibration.Fit(teacherCalibrationLogits, calibrationSet.Labels, calibrationSet.Weights, calibrationSet.Segments, minSegmentRows: 2_000);
        var rawProbability = teacherTest.Select(RankerMetrics.Sigmoid).ToArray();
        var calibrated = calibration.ApplyAll(teacherTest, test.Segments);
        var importanceRows = test.SliceGroups(0, Math.Min(test.GroupCount, 500));
        var teacherDir = Path.Combine(output, "main-ranker");
        ModelPackage.WriteMlp(teacherDir, teacher, "main-ranker", version, created, ModelPackage.PermutationImportance(teacher, importanceRows),
            new Dictionary<string, double> { ["ndcg@10"] = teacherNdcg, ["auc"] = teacherAuc, ["logloss_raw"] = RankerMetrics.LogLoss(test.Labels, rawProbability, test.Weights), ["logloss_calibrated"] = RankerMetrics.LogLoss(test.Labels, calibrated, test.Weights) },
            calibration);
        var teacherParity = Parity(teacherDir, OnnxExport.LogitOutput, test.Features, teacherTest, parityRows);
        Console.WriteLine(string.Create(c, $"Teacher MLP {test.FeatureCount}-{string.Join('-', teacherLayers)}-1 ({teacher.ParameterCount:N0} parameters, {teacher.MultiplyAddsPerRow:N0} MACs/row) trained in {teacherSeconds:F1} s; test nDCG@10 {teacherNdcg:F4}, AUC {teacherAuc:F4}; ONNX max |diff| {teacherParity:E2}"));

        // Student distilled from the teacher's logits on the training rows.
        var teacherTrain = Score(teacher, train);
        sw.Restart();
        var student = new MlpTrainer(new MlpTrainerOptions { HiddenLayers = studentLayers, Epochs = studentEpochs, Seed = 2 })
            .TrainStudent(train, teacherTrain, r => Console.WriteLine(string.Create(c, $"  student epoch {r.Epoch}/{r.TotalEpochs}: mse/2 {r.Loss:F4}, {r.Elapsed.TotalSeconds:F1} s")));
        var studentSeconds = sw.Elapsed.TotalSeconds;
        var studentTest = Score(student, test);
        var studentNdcg = RankerMetrics.MeanNdcg(test, studentTest);
        var studentAuc = RankerMetrics.Auc(test.Labels, studentTest);
        var agreement = RankerMetrics.MeanTopKOverlap(test, teacherTest, studentTest, 10);
        var top5 = RankerMetrics.MeanTopKOverlap(test, teacherTest, studentTest, 5);
        var studentDir = Path.Combine(output, "student");
        ModelPackage.WriteMlp(studentDir, student, "student", version, created, ModelPackage.PermutationImportance(student, importanceRows),
            new Dictionary<string, double> { ["ndcg@10"] = studentNdcg, ["auc"] = studentAuc, ["teacher_top5_overlap"] = top5 });
        var studentParity = Parity(studentDir, OnnxExport.LogitOutput, test.Features, studentTest, parityRows);
        Console.WriteLine(string.Create(c, $"Student MLP {test.FeatureCount}-{string.Join('-', studentLayers)}-1 ({student.ParameterCount:N0} parameters, {student.MultiplyAddsPerRow:N0} MACs/row) trained in {studentSeconds:F1} s; test nDCG@10 {studentNdcg:F4}, AUC {studentAuc:F4}; ONNX max |diff| {studentParity:E2}"));

        Console.WriteLine();
        Console.WriteLine("| model | nDCG@10 (test) | vs teacher | AUC | top-5 / top-10 overlap with teacher | ONNX max abs diff (10k rows) | train s |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        Console.WriteLine(string.Create(c, $"| pre-ranker (LambdaRank GBDT, 30 cheap features) | {gbdtNdcg:F4} | {gbdtNdcg / teacherNdcg:F3}x | {RankerMetrics.Auc(test.Labels, gbdtScores):F4} | | {gbdtParity:E1} | {gbdtSeconds:F1} |"));
        Console.WriteLine(string.Create(c, $"| teacher MLP {string.Join('-', teacherLayers)} | {teacherNdcg:F4} | 1.000x | {teacherAuc:F4} | | {teacherParity:E1} | {teacherSeconds:F1} |"));
        Console.WriteLine(string.Create(c, $"| student MLP {string.Join('-', studentLayers)} | {studentNdcg:F4} | {studentNdcg / teacherNdcg:F3}x ({(1 - (studentNdcg / teacherNdcg)) * 100:F2} % loss) | {studentAuc:F4} | {top5:F3} / {agreement:F3} | {studentParity:E1} | {studentSeconds:F1} |"));
        Console.WriteLine(string.Create(c, $"| random order | {RandomNdcg(test):F4} | | | | | |"));

        Console.WriteLine();
        Console.WriteLine("Calibration of the teacher (fitted on the calibration split; metrics on the test split's rows of each segment):");
        Console.WriteLine("| segment | rows (calibration) | method | held-out log loss Platt / isotonic | test log loss raw -> calibrated | test ECE raw -> calibrated |");
        Console.WriteLine("|---|---:|---|---:|---:|---:|");
        foreach (var entry in calibration.Report)
        {
            var rows = Enumerable.Range(0, test.RowCount).Where(r => entry.Segment.StartsWith('a') || test.Segments[r].ToString() == entry.Segment).ToArray();
            var y = rows.Select(r => test.Labels[r]).ToArray();
            var w = rows.Select(r => test.Weights[r]).ToArray();
            var raw = rows.Select(r => rawProbability[r]).ToArray();
            var cal = rows.Select(r => calibrated[r]).ToArray();
            var method = entry.Segment.StartsWith('a') ? "per segment" : entry.UsesGlobal ? "global fallback" : entry.Chosen.ToString();
            Console.WriteLine(string.Create(c, $"| {entry.Segment} | {entry.Rows:N0} | {method} | {entry.PlattHeldOutLogLoss:F4} / {entry.IsotonicHeldOutLogLoss:F4} | {RankerMetrics.LogLoss(y, raw, w):F4} -> {RankerMetrics.LogLoss(y, cal, w):F4} | {RankerMetrics.ExpectedCalibrationError(y, raw, w):F4} -> {RankerMetrics.ExpectedCalibrationError(y, cal, w):F4} |"));
        }

        Console.WriteLine();
        Console.WriteLine($"ONNX Runtime throughput (items/s; best of {rounds} interleaved rounds of ~{seconds} s per model; IoBinding over pre-allocated buffers):");
        Console.WriteLine("| intra-op threads | batch | teacher | student | student / teacher | pre-ranker (trees) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        foreach (var threads in new[] { 1, 0 })
        {
            foreach (var batch in new[] { 64, 256 })
            {
                using var t = new OnnxScorer(Path.Combine(teacherDir, ModelPackage.OnnxFile), OnnxExport.LogitOutput, threads);
                using var s = new OnnxScorer(Path.Combine(studentDir, ModelPackage.OnnxFile), OnnxExport.LogitOutput, threads);
                using var g = new OnnxScorer(Path.Combine(gbdtDir, ModelPackage.OnnxFile), OnnxExport.ScoreOutput, threads);
                var best = new double[3];
                for (var round = 0; round < rounds; round++)
                {
                    // Interleaved: each round measures all three, so drift on the shared machine hits them alike.
                    best[0] = Math.Max(best[0], ItemsPerSecond(t, test.Features, batch, seconds));
                    best[1] = Math.Max(best[1], ItemsPerSecond(s, test.Features, batch, seconds));
                    best[2] = Math.Max(best[2], ItemsPerSecond(g, cheapTest.Features, batch, seconds));
                }

                Console.WriteLine(string.Create(c, $"| {(threads == 0 ? "default" : "1")} | {batch} | {best[0]:N0} | {best[1]:N0} | {best[1] / best[0]:F2}x | {best[2]:N0} |"));
            }
        }

        Console.WriteLine();
        Console.WriteLine($"Model folders (model.onnx, manifest.json, calibration.json / lightgbm.txt): {output}");
        return 0;
    }

    private static float[] Score(MlpModel model, RankingDataset data)
    {
        var logits = new float[data.RowCount];
        model.Score(data.Features, logits);
        return logits;
    }

    private static double Parity(string dir, string outputName, float[] features, float[] reference, int rows)
    {
        ModelManifest.Read(dir); // validates hashes of what was just written
        using var scorer = new OnnxScorer(Path.Combine(dir, ModelPackage.OnnxFile), outputName, intraOpThreads: 1);
        var onnx = new float[rows];
        scorer.ScoreAll(features.AsSpan(0, rows * scorer.FeatureCount), onnx, 256);
        var max = 0.0;
        for (var i = 0; i < rows; i++)
        {
            max = Math.Max(max, Math.Abs(onnx[i] - reference[i]));
        }

        if (max > 1e-5)
        {
            Console.WriteLine($"  PARITY FAILED for {dir}: {max:E2} > 1e-5");
        }

        return max;
    }

    private static double ItemsPerSecond(OnnxScorer scorer, float[] features, int batch, double seconds)
    {
        var f = scorer.FeatureCount;
        var batches = (features.Length / f) / batch;
        var scores = new float[batch];
        for (var w = 0; w < 20; w++)
        {
            scorer.Score(features.AsSpan((w % batches) * batch * f, batch * f), scores);
        }

        var calls = 0L;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < seconds)
        {
            for (var k = 0; k < 16; k++, calls++)
            {
                scorer.Score(features.AsSpan((int)(calls % batches) * batch * f, batch * f), scores);
            }
        }

        return calls * batch / sw.Elapsed.TotalSeconds;
    }

    private static double RandomNdcg(RankingDataset data)
    {
        var rng = new Random(3);
        var scores = Enumerable.Range(0, data.RowCount).Select(_ => (float)rng.NextDouble()).ToArray();
        return RankerMetrics.MeanNdcg(data, scores);
    }
}
