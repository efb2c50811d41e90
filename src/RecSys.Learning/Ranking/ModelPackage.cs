namespace RecSys.Learning.Ranking;

/// <summary>
/// Writes a model folder: model.onnx, the optional calibration.json (and LightGBM's own text model for trees), and
/// manifest.json listing them with hashes, features with importance, graph inputs and outputs and offline metrics.
/// </summary>
public static class ModelPackage
{
    public const string OnnxFile = "model.onnx";
    public const string CalibrationFile = "calibration.json";
    public const string LightGbmFile = "lightgbm.txt";

    public static ModelManifest WriteMlp(string directory, MlpModel model, string kind, string version, DateTimeOffset createdAt,
        IReadOnlyList<double> importance, IReadOnlyDictionary<string, double> metrics, SegmentCalibration? calibration = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(importance);
        if (importance.Count != model.FeatureNames.Count)
        {
            throw new ArgumentException("One importance value per feature is expected.", nameof(importance));
        }

        Directory.CreateDirectory(directory);
        OnnxExport.Save(OnnxExport.FromMlp(model, kind), Path.Combine(directory, OnnxFile));
        List<string> files = [OnnxFile];
        if (calibration is not null)
        {
            File.WriteAllText(Path.Combine(directory, CalibrationFile), calibration.ToJson());
            files.Add(CalibrationFile);
        }

        var width = model.FeatureNames.Count;
        return Write(directory, kind, version, createdAt, model.FeatureNames, importance, width,
            [new(OnnxExport.LogitOutput, "float", [-1, 1]), new(OnnxExport.ProbabilityOutput, "float", [-1, 1])], files, metrics);
    }

    public static ModelManifest WriteTrees(string directory, GbdtModel model, string kind, string version, DateTimeOffset createdAt,
        IReadOnlyDictionary<string, double> metrics)
    {
        ArgumentNullException.ThrowIfNull(model);
        Directory.CreateDirectory(directory);
        OnnxExport.Save(OnnxExport.FromTrees(model, kind), Path.Combine(directory, OnnxFile));
        File.WriteAllText(Path.Combine(directory, LightGbmFile), model.LightGbmModelText);
        return Write(directory, kind, version, createdAt, model.FeatureNames, model.FeatureGain, model.FeatureNames.Count,
            [new(OnnxExport.ScoreOutput, "float", [-1, 1])], [OnnxFile, LightGbmFile], metrics);
    }

    /// <summary>
    /// Permutation importance: how much the weighted log loss of sigmoid(logit) grows when one column is shuffled across
    /// rows (one fixed permutation from the seed, so it is reproducible).
    /// </summary>
    public static double[] PermutationImportance(MlpModel model, RankingDataset data, int seed = 7)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        if (!model.FeatureNames.SequenceEqual(data.FeatureNames))
        {
            throw new ArgumentException("The dataset's features differ from the model's.", nameof(data));
        }

        var n = data.RowCount;
        var f = data.FeatureCount;
        var logits = new float[n];
        model.Score(data.Features, logits);
        var baseline = RankerMetrics.LogLoss(data.Labels, logits.Select(RankerMetrics.Sigmoid).ToArray(), data.Weights);
        var permutation = Enumerable.Range(0, n).ToArray();
        new Random(seed).Shuffle(permutation);
        var shuffled = (float[])data.Features.Clone();
        var importance = new double[f];
        for (var k = 0; k < f; k++)
        {
            for (var r = 0; r < n; r++)
            {
                shuffled[(r * f) + k] = data.Features[(permutation[r] * f) + k];
            }

            model.Score(shuffled, logits);
            importance[k] = RankerMetrics.LogLoss(data.Labels, logits.Select(RankerMetrics.Sigmoid).ToArray(), data.Weights) - baseline;
            for (var r = 0; r < n; r++)
            {
                shuffled[(r * f) + k] = data.Features[(r * f) + k];
            }
        }

        return importance;
    }

    private static ModelManifest Write(string directory, string kind, string version, DateTimeOffset createdAt, IReadOnlyList<string> names,
        IReadOnlyList<double> importance, int width, IReadOnlyList<ManifestTensor> outputs, IReadOnlyList<string> files,
        IReadOnlyDictionary<string, double> metrics)
    {
        var manifest = new ModelManifest(
            ModelManifest.CurrentSchemaVersion,
            kind,
            version,
            createdAt,
            [.. names.Select((name, i) => new ManifestFeature(name, importance[i]))],
            [new ManifestTensor(OnnxExport.InputName, "float", [-1, width])],
            outputs,
            [.. files.Select(file => ModelManifest.Describe(directory, file))],
            new SortedDictionary<string, double>(metrics.ToDictionary(), StringComparer.Ordinal));
        manifest.Write(directory);
        return manifest;
    }
}
