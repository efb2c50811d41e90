using System.Diagnostics;
using RecSys.Learning.Ranking;
using RecSys.Ranking.Features;
using RecSys.Ranking.Models;

namespace RecSys.Ranking.Bench;

/// <summary>
/// Trains a ranker release on the world with the repository's trainers and the Trainer's settings (pre-ranker: LambdaRank
/// GBDT, 200 trees x 31 leaves, on the cheap features; main ranker: MLP 128-64 on all features, calibrated per segment) and
/// writes it with <see cref="ModelPackage"/> as <c>train-rankers</c> does. Rows are computed by <see cref="RankingRowComputer"/>,
/// the serving code path.
/// </summary>
public static class BenchRelease
{
    public const string Version = "bench-v1";

    /// <summary>The release folder under <paramref name="root"/>; trained unless a complete one is there already.</summary>
    public static string Ensure(string root, BenchWorld world, int trainUsers, int rowsPerUser, bool retrain, int seed)
    {
        var directory = Path.Combine(root, Version);
        if (!retrain && File.Exists(Path.Combine(directory, ModelKinds.PreRanker, ModelManifest.FileName))
            && File.Exists(Path.Combine(directory, ModelKinds.MainRanker, ModelManifest.FileName)))
        {
            Console.WriteLine($"release: reusing {directory}");
            return directory;
        }

        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }

        var clock = Stopwatch.StartNew();
        var data = Dataset(world, trainUsers, rowsPerUser, seed);
        var parts = data.SplitGroups(0.8, 0.1, 0.1);
        var (train, validation, calibration) = (parts[0], parts[1], parts[2]);
        var positives = data.Labels.Count(l => l > 0);
        Console.WriteLine($"release: {data.RowCount:N0} rows ({positives:N0} clicks) in {data.GroupCount:N0} lists, {data.FeatureCount} features");

        var cheap = RankingFeatureCatalog.CheapNames.Where(data.FeatureNames.Contains).ToList();
        var pre = new GbdtRankerTrainer(new GbdtRankerOptions { Iterations = 200, Leaves = 31, LearningRate = 0.05, MinRowsPerLeaf = 50, Threads = 1 })
            .Train(train.SelectFeatures(cheap));
        Console.WriteLine($"release: pre-ranker {pre.Trees.Count} trees, {pre.Trees.Sum(t => t.LeafCount):N0} leaves ({clock.Elapsed.TotalSeconds:F0} s)");
        var main = new MlpTrainer(new MlpTrainerOptions { HiddenLayers = [128, 64], Epochs = 6, BatchSize = 256 }).TrainClassifier(train);
        Console.WriteLine($"release: main ranker trained ({clock.Elapsed.TotalSeconds:F0} s)");

        var logits = new float[calibration.RowCount];
        main.Score(calibration.Features, logits);
        var calibrated = SegmentCalibration.Fit(logits, [.. calibration.Labels.Select(l => l > 0 ? 1f : 0f)], calibration.Weights, calibration.Segments);
        var preScores = new float[validation.RowCount];
        pre.Score(validation.SelectFeatures(cheap).Features, preScores);
        var mainScores = new float[validation.RowCount];
        main.Score(validation.Features, mainScores);
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["pre_ranker_ndcg10"] = RankerMetrics.MeanNdcg(validation, preScores),
            ["main_ranker_ndcg10"] = RankerMetrics.MeanNdcg(validation, mainScores),
        };
        Console.WriteLine($"release: validation nDCG@10 pre-ranker {metrics["pre_ranker_ndcg10"]:F3}, main ranker {metrics["main_ranker_ndcg10"]:F3}");

        var createdAt = world.Now;
        ModelPackage.WriteTrees(Path.Combine(directory, ModelKinds.PreRanker), pre, ModelKinds.PreRanker, Version + "-pre", createdAt, metrics);
        var importance = ModelPackage.PermutationImportance(main, validation);
        ModelPackage.WriteMlp(Path.Combine(directory, ModelKinds.MainRanker), main, ModelKinds.MainRanker, Version + "-main", createdAt, importance, metrics, calibrated);
        Console.WriteLine($"release: written to {directory} ({clock.Elapsed.TotalSeconds:F0} s)");
        return directory;
    }

    /// <summary>Lists of <paramref name="rowsPerUser"/> random items for the first <paramref name="users"/> users, labelled by the planted clicks.</summary>
    private static RankingDataset Dataset(BenchWorld world, int users, int rowsPerUser, int seed)
    {
        var random = new Random(seed);
        var names = RankingFeatureCatalog.Names;
        var computer = new RankingRowComputer(names);
        var width = computer.Width;
        var matchColumn = names.ToList().IndexOf("recent_category_match");
        var rowCount = users * rowsPerUser;
        var features = new float[rowCount * width];
        var labels = new float[rowCount];
        var weights = new float[rowCount];
        var groups = new int[rowCount];
        var segments = new SegmentKey[rowCount];
        var candidates = new EntityValues[rowsPerUser];
        var items = new int[rowsPerUser];
        for (var u = 0; u < users; u++)
        {
            var user = u % world.UserIds.Length;
            var request = world.Request(user);
            var segment = RankingSegments.Of(request);
            for (var k = 0; k < rowsPerUser; k++)
            {
                items[k] = random.Next(world.ItemIds.Length);
                candidates[k] = world.Items[items[k]];
            }

            var start = u * rowsPerUser;
            computer.Compute(request, candidates, features.AsSpan(start * width, rowsPerUser * width));
            for (var k = 0; k < rowsPerUser; k++)
            {
                var r = start + k;
                var match = features[(r * width) + matchColumn];
                labels[r] = random.NextDouble() < world.ClickProbability(user, items[k], match) ? 1 : 0;
                weights[r] = 1;
                groups[r] = u;
                segments[r] = segment;
            }
        }

        return new RankingDataset(names, features, labels, weights, groups, segments);
    }
}
