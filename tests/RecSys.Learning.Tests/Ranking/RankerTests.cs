using RecSys.Learning.Ranking;

namespace RecSys.Learning.Tests.Ranking;

/// <summary>Small planted worlds: models must learn them, be deterministic, and export to ONNX with matching scores.</summary>
public sealed class RankerTests
{
    private static readonly SyntheticRankingOptions World = new() { Users = 300, Items = 600, Groups = 600, CandidatesPerGroup = 16, EmbeddingDimension = 8, Seed = 3 };

    private static (RankingDataset Train, RankingDataset Test) Split(RankingDataset data)
    {
        var parts = data.SplitGroups(0.75, 0.25);
        return (parts[0], parts[1]);
    }

    [Fact]
    public void Generator_is_deterministic_for_a_seed_and_differs_across_seeds()
    {
        var a = SyntheticRankingData.Generate(World);
        var b = SyntheticRankingData.Generate(World);
        var c = SyntheticRankingData.Generate(World with { Seed = 4 });
        Assert.Equal(a.Features, b.Features);
        Assert.Equal(a.Labels, b.Labels);
        Assert.NotEqual(a.Labels, c.Labels);
        Assert.Equal(600, a.GroupCount);
        Assert.Equal(30 + (3 * 8), a.FeatureCount);
        var rate = a.Labels.Average();
        Assert.InRange(rate, 0.03, 0.5);
    }

    [Fact]
    public void Dataset_rejects_split_groups_and_bad_values()
    {
        string[] names = ["x"];
        var segments = new SegmentKey[3];
        Assert.Throws<ArgumentException>(() => new RankingDataset(names, [1, 2, 3], [0, 1, 0], [1, 1, 1], [1, 2, 1], segments));
        Assert.Throws<ArgumentException>(() => new RankingDataset(names, [1, float.NaN, 3], [0, 1, 0], [1, 1, 1], [1, 1, 2], segments));
        Assert.Throws<ArgumentException>(() => new RankingDataset(names, [1, 2, 3], [0, 1, 0], [1, -1, 1], [1, 1, 2], segments));
        Assert.Throws<ArgumentException>(() => new RankingDataset(names, [1, 2], [0, 1, 0], [1, 1, 1], [1, 1, 2], segments));
    }

    [Fact]
    public void Mlp_learns_the_planted_function_and_is_deterministic_at_any_thread_count()
    {
        var (train, test) = Split(SyntheticRankingData.Generate(World));
        var options = new MlpTrainerOptions { HiddenLayers = [32, 16], Epochs = 4, BatchSize = 128, Seed = 5, MaxDegreeOfParallelism = 1 };
        var one = new MlpTrainer(options).TrainClassifier(train);
        var two = new MlpTrainer(options with { MaxDegreeOfParallelism = 2 }).TrainClassifier(train);
        for (var l = 0; l < one.Weights.Length; l++)
        {
            Assert.Equal(one.Weights[l], two.Weights[l]);
            Assert.Equal(one.Biases[l], two.Biases[l]);
        }

        var logits = new float[test.RowCount];
        one.Score(test.Features, logits);
        var auc = RankerMetrics.Auc(test.Labels, logits);
        Assert.True(auc > 0.72, $"AUC {auc:F3} on held-out groups");
        var shuffled = (float[])logits.Clone();
        new Random(1).Shuffle(shuffled);
        Assert.True(RankerMetrics.MeanNdcg(test, logits) > RankerMetrics.MeanNdcg(test, shuffled) + 0.05);
    }

    [Fact]
    public void Weight_decay_shrinks_the_weights_and_the_model_still_learns()
    {
        var (train, test) = Split(SyntheticRankingData.Generate(World));
        var options = new MlpTrainerOptions { HiddenLayers = [32, 16], Epochs = 4, BatchSize = 128, Seed = 5 };
        var plain = new MlpTrainer(options).TrainClassifier(train);
        var decayed = new MlpTrainer(options with { WeightDecay = 1f }).TrainClassifier(train);

        // Layers after the first (which has the standardization folded in) compare directly.
        static double SquaredNorm(MlpModel model) => model.Weights.Skip(1).SelectMany(w => w).Sum(w => (double)w * w);
        Assert.True(SquaredNorm(decayed) < 0.9 * SquaredNorm(plain), $"squared weight norm {SquaredNorm(decayed):F2} with decay, {SquaredNorm(plain):F2} without");
        var logits = new float[test.RowCount];
        decayed.Score(test.Features, logits);
        Assert.True(RankerMetrics.Auc(test.Labels, logits) > 0.7);

        Assert.Throws<ArgumentException>(() => new MlpTrainer(options with { WeightDecay = -0.1f }));
        Assert.Throws<ArgumentException>(() => new MlpTrainer(options with { WeightDecay = float.NaN }));
    }

    [Fact]
    public void Gbdt_pre_ranker_learns_is_deterministic_and_matches_in_onnx()
    {
        var data = SyntheticRankingData.Generate(World).SelectFeatures(SyntheticRankingData.CheapFeatureNames);
        var (train, test) = Split(data);
        var options = new GbdtRankerOptions { Iterations = 40, Leaves = 15, MinRowsPerLeaf = 20, Threads = 1 };
        var model = new GbdtRankerTrainer(options).Train(train);
        var again = new GbdtRankerTrainer(options).Train(train);
        Assert.Equal(model.LightGbmModelText, again.LightGbmModelText);
        Assert.Equal(40, model.Trees.Count);
        Assert.Contains(model.FeatureGain, g => g > 0);

        var reference = model.PredictWithLightGbm(test.Features, test.RowCount);
        var own = new float[test.RowCount];
        model.Score(test.Features, own);
        var auc = RankerMetrics.Auc(test.Labels, own);
        Assert.True(auc > 0.65, $"AUC {auc:F3}");

        var dir = Directory.CreateTempSubdirectory("gbdt-onnx").FullName;
        try
        {
            ModelPackage.WriteTrees(dir, model, "pre-ranker", "v1", DateTimeOffset.UnixEpoch.AddDays(1), new Dictionary<string, double> { ["auc"] = auc });
            using var scorer = new OnnxScorer(Path.Combine(dir, ModelPackage.OnnxFile), OnnxExport.ScoreOutput);
            var onnx = new float[test.RowCount];
            scorer.ScoreAll(test.Features, onnx, batchSize: 256);
            for (var i = 0; i < onnx.Length; i++)
            {
                Assert.True(Math.Abs(onnx[i] - reference[i]) <= 1e-5, $"row {i}: ONNX {onnx[i]} vs LightGBM {reference[i]}");
                Assert.True(Math.Abs(own[i] - reference[i]) <= 1e-5, $"row {i}: C# trees {own[i]} vs LightGBM {reference[i]}");
            }

            Assert.Equal(model.FeatureNames, ModelManifest.Read(dir).Features.Select(f => f.Name));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Mlp_onnx_export_matches_the_trainer_and_the_student_follows_the_teacher()
    {
        var (train, test) = Split(SyntheticRankingData.Generate(World));
        var teacher = new MlpTrainer(new MlpTrainerOptions { HiddenLayers = [32, 16], Epochs = 3, Seed = 1 }).TrainClassifier(train);
        var teacherTrain = new float[train.RowCount];
        teacher.Score(train.Features, teacherTrain);
        var student = new MlpTrainer(new MlpTrainerOptions { HiddenLayers = [8], Epochs = 6, Seed = 2 }).TrainStudent(train, teacherTrain);

        var teacherTest = new float[test.RowCount];
        var studentTest = new float[test.RowCount];
        teacher.Score(test.Features, teacherTest);
        student.Score(test.Features, studentTest);
        Assert.True(RankerMetrics.MeanTopKOverlap(test, teacherTest, studentTest, k: 5) > 0.6);

        var dir = Directory.CreateTempSubdirectory("mlp-onnx").FullName;
        try
        {
            var importance = ModelPackage.PermutationImportance(teacher, test);
            ModelPackage.WriteMlp(dir, teacher, "main-ranker", "v1", DateTimeOffset.UnixEpoch.AddDays(1), importance, new Dictionary<string, double>());
            using var scorer = new OnnxScorer(Path.Combine(dir, ModelPackage.OnnxFile), OnnxExport.LogitOutput);
            var onnx = new float[test.RowCount];
            scorer.ScoreAll(test.Features, onnx, batchSize: 64);
            var maxDiff = onnx.Zip(teacherTest, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(maxDiff <= 1e-5, $"max abs difference {maxDiff:E2}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Onnx_scorer_rejects_a_missing_model_file()
    {
        Assert.Throws<FileNotFoundException>(() => new OnnxScorer("/nonexistent/model.onnx", OnnxExport.LogitOutput));
    }

    [Fact]
    public void Tree_thresholds_round_down_so_float_comparisons_agree()
    {
        const double t = 0.1; // not representable: (float)0.1 > 0.1
        var f = OnnxExport.FloatAtOrBelow(t);
        Assert.True(f <= t);
        Assert.True(MathF.BitIncrement(f) > t);
        Assert.Equal(2f, OnnxExport.FloatAtOrBelow(2.0));
    }
}
