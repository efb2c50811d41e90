using System.Globalization;
using System.Text;

namespace RecSys.Learning.Ranking;

/// <summary>Hyper-parameters of the LambdaRank gradient-boosted pre-ranker.</summary>
public sealed record GbdtRankerOptions
{
    public int Iterations { get; init; } = 200;

    public int Leaves { get; init; } = 31;

    public double LearningRate { get; init; } = 0.05;

    public int MinRowsPerLeaf { get; init; } = 50;

    /// <summary>Positions of a list whose pairs LambdaRank optimises (nDCG truncation).</summary>
    public int TruncationLevel { get; init; } = 20;

    public int Seed { get; init; } = 42;

    /// <summary>Threads; -1 uses every core. With LightGBM's deterministic mode a fixed thread count gives the same model.</summary>
    public int Threads { get; init; } = -1;

    public void Validate()
    {
        if (Iterations < 1 || Leaves < 2 || MinRowsPerLeaf < 1 || TruncationLevel < 1)
        {
            throw new ArgumentException("Iterations, MinRowsPerLeaf and TruncationLevel must be >= 1, Leaves >= 2.");
        }

        if (!double.IsFinite(LearningRate) || LearningRate <= 0)
        {
            throw new ArgumentException($"LearningRate must be finite and > 0 (got {LearningRate}).", nameof(LearningRate));
        }

        if (Threads is 0 or < -1)
        {
            throw new ArgumentException($"Threads must be -1 or >= 1 (got {Threads}).", nameof(Threads));
        }
    }

    internal string ToLightGbmParameters()
    {
        var threads = Threads == -1 ? Environment.ProcessorCount : Threads;
        // use_missing=false: inputs are validated finite, and every split is then a plain "x <= threshold" (what ONNX expresses).
        var tuning = string.Create(CultureInfo.InvariantCulture,
            $"lambdarank_truncation_level={TruncationLevel} num_leaves={Leaves} learning_rate={LearningRate} min_data_in_leaf={MinRowsPerLeaf} seed={Seed} num_threads={threads}");
        return $"objective=lambdarank metric=ndcg eval_at=10 {tuning} deterministic=true force_row_wise=true use_missing=false verbosity=-1";
    }
}

/// <summary>One regression tree as LightGBM writes it: internal nodes 0..n-2, child c &gt;= 0 a node, c &lt; 0 the leaf ~c.</summary>
public sealed record GbdtTree(int[] SplitFeature, double[] Threshold, int[] LeftChild, int[] RightChild, double[] LeafValue)
{
    public int LeafCount => LeafValue.Length;

    public double Evaluate(ReadOnlySpan<float> row)
    {
        if (LeafValue.Length == 1)
        {
            return LeafValue[0];
        }

        var node = 0;
        while (true)
        {
            var next = row[SplitFeature[node]] <= Threshold[node] ? LeftChild[node] : RightChild[node];
            if (next < 0)
            {
                return LeafValue[~next];
            }

            node = next;
        }
    }
}

/// <summary>
/// A trained LambdaRank tree ensemble: the trees (parsed from LightGBM's model text, so we own scoring and export), the
/// model text itself, and the gain importance of each feature. The score is a raw ranking score (sum of leaf values).
/// </summary>
public sealed class GbdtModel
{
    public GbdtModel(IReadOnlyList<string> featureNames, IReadOnlyList<GbdtTree> trees, double[] featureGain, string lightGbmModelText)
    {
        ArgumentNullException.ThrowIfNull(featureNames);
        ArgumentNullException.ThrowIfNull(trees);
        ArgumentNullException.ThrowIfNull(featureGain);
        if (featureGain.Length != featureNames.Count)
        {
            throw new ArgumentException("One gain value per feature is expected.", nameof(featureGain));
        }

        FeatureNames = [.. featureNames];
        Trees = [.. trees];
        FeatureGain = featureGain;
        LightGbmModelText = lightGbmModelText;
    }

    public IReadOnlyList<string> FeatureNames { get; }

    public IReadOnlyList<GbdtTree> Trees { get; }

    public double[] FeatureGain { get; }

    public string LightGbmModelText { get; }

    /// <summary>Scores rows (row-major, FeatureNames.Count wide) by walking the parsed trees in C#.</summary>
    public void Score(ReadOnlySpan<float> rows, Span<float> scores)
    {
        var f = FeatureNames.Count;
        if (rows.Length != scores.Length * f)
        {
            throw new ArgumentException($"Expected {scores.Length} rows of {f} features.", nameof(rows));
        }

        for (var r = 0; r < scores.Length; r++)
        {
            var row = rows.Slice(r * f, f);
            double sum = 0;
            foreach (var tree in Trees)
            {
                sum += tree.Evaluate(row);
            }

            scores[r] = (float)sum;
        }
    }

    /// <summary>LightGBM's own raw scores for the rows (the trainer's reference in parity checks).</summary>
    public double[] PredictWithLightGbm(float[] rows, int rowCount)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var f = FeatureNames.Count;
        if (rowCount < 1 || rows.Length != (long)rowCount * f)
        {
            throw new ArgumentException($"Expected {rowCount} rows of {f} features.", nameof(rows));
        }

        LightGbmNative.Check(LightGbmNative.LGBM_BoosterLoadModelFromString(LightGbmModelText, out _, out var booster), "BoosterLoadModelFromString");
        try
        {
            var results = new double[rowCount];
            LightGbmNative.Check(LightGbmNative.LGBM_BoosterPredictForMat(booster, rows, LightGbmNative.DataTypeFloat32, rowCount, f, 1,
                LightGbmNative.PredictRawScore, 0, -1, "num_threads=1", out _, results), "BoosterPredictForMat");
            return results;
        }
        finally
        {
            LightGbmNative.LGBM_BoosterFree(booster);
        }
    }

    /// <summary>Reads the trees out of LightGBM's text model format (numerical splits only).</summary>
    internal static List<GbdtTree> ParseTrees(string modelText, int featureCount)
    {
        var trees = new List<GbdtTree>();
        Dictionary<string, string>? current = null;
        foreach (var rawLine in modelText.Split('\n'))
        {
            var line = rawLine.Trim();
            if (line.StartsWith("Tree=", StringComparison.Ordinal) || line == "end of trees")
            {
                if (current is not null)
                {
                    trees.Add(BuildTree(current, featureCount));
                }

                current = line == "end of trees" ? null : [];
                if (current is null)
                {
                    break;
                }

                continue;
            }

            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (current is not null && eq > 0)
            {
                current[line[..eq]] = line[(eq + 1)..];
            }
        }

        return trees;
    }

    private static GbdtTree BuildTree(Dictionary<string, string> fields, int featureCount)
    {
        double[] Doubles(string key) => fields.TryGetValue(key, out var v) && v.Length > 0
            ? [.. v.Split(' ').Select(x => double.Parse(x, CultureInfo.InvariantCulture))] : [];
        int[] Ints(string key) => fields.TryGetValue(key, out var v) && v.Length > 0
            ? [.. v.Split(' ').Select(x => int.Parse(x, CultureInfo.InvariantCulture))] : [];

        var leaves = Doubles("leaf_value");
        var split = Ints("split_feature");
        var threshold = Doubles("threshold");
        var left = Ints("left_child");
        var right = Ints("right_child");
        var decision = Ints("decision_type");
        if (leaves.Length == 0 || split.Length != leaves.Length - 1 || threshold.Length != split.Length
            || left.Length != split.Length || right.Length != split.Length)
        {
            throw new InvalidDataException("LightGBM model text has a tree whose arrays disagree in length.");
        }

        if (decision.Any(t => (t & 1) != 0) || split.Any(s => s < 0 || s >= featureCount))
        {
            throw new InvalidDataException("LightGBM model text has a categorical split or an unknown feature; only numerical splits are supported.");
        }

        return new GbdtTree(split, threshold, left, right, leaves);
    }
}

/// <summary>Trains the pre-ranker with LightGBM's LambdaRank objective through its native C API.</summary>
public sealed class GbdtRankerTrainer(GbdtRankerOptions options)
{
    private readonly GbdtRankerOptions _options = Validated(options);

    public GbdtModel Train(RankingDataset data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        var parameters = _options.ToLightGbmParameters();
        LightGbmNative.Check(LightGbmNative.LGBM_DatasetCreateFromMat(data.Features, LightGbmNative.DataTypeFloat32, data.RowCount,
            data.FeatureCount, 1, parameters, IntPtr.Zero, out var dataset), "DatasetCreateFromMat");
        var booster = IntPtr.Zero;
        try
        {
            LightGbmNative.Check(LightGbmNative.DatasetSetFieldFloat(dataset, "label", data.Labels, data.RowCount, LightGbmNative.DataTypeFloat32), "DatasetSetField(label)");
            LightGbmNative.Check(LightGbmNative.DatasetSetFieldFloat(dataset, "weight", data.Weights, data.RowCount, LightGbmNative.DataTypeFloat32), "DatasetSetField(weight)");
            var sizes = data.GroupSizes();
            LightGbmNative.Check(LightGbmNative.DatasetSetFieldInt(dataset, "group", sizes, sizes.Length, LightGbmNative.DataTypeInt32), "DatasetSetField(group)");
            LightGbmNative.Check(LightGbmNative.LGBM_BoosterCreate(dataset, parameters, out booster), "BoosterCreate");
            for (var i = 0; i < _options.Iterations; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                LightGbmNative.Check(LightGbmNative.LGBM_BoosterUpdateOneIter(booster, out var finished), "BoosterUpdateOneIter");
                if (finished != 0)
                {
                    break;
                }
            }

            var gain = new double[data.FeatureCount];
            LightGbmNative.Check(LightGbmNative.LGBM_BoosterFeatureImportance(booster, 0, LightGbmNative.ImportanceGain, gain), "BoosterFeatureImportance");
            var text = SaveModel(booster);
            return new GbdtModel(data.FeatureNames, GbdtModel.ParseTrees(text, data.FeatureCount), gain, text);
        }
        finally
        {
            if (booster != IntPtr.Zero)
            {
                LightGbmNative.LGBM_BoosterFree(booster);
            }

            LightGbmNative.LGBM_DatasetFree(dataset);
        }
    }

    private static string SaveModel(IntPtr booster)
    {
        LightGbmNative.Check(LightGbmNative.LGBM_BoosterSaveModelToString(booster, 0, -1, LightGbmNative.ImportanceGain, 0, out var length, []), "BoosterSaveModelToString");
        var buffer = new byte[length];
        LightGbmNative.Check(LightGbmNative.LGBM_BoosterSaveModelToString(booster, 0, -1, LightGbmNative.ImportanceGain, length, out _, buffer), "BoosterSaveModelToString");
        // The text is NUL-terminated.
        return Encoding.UTF8.GetString(buffer, 0, (int)Math.Max(0, length - 1));
    }

    private static GbdtRankerOptions Validated(GbdtRankerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return options;
    }
}
