using RecSys.Learning.Ranking;
using RecSys.Ranking.Features;
using RecSys.Ranking.Models;

namespace RecSys.Ranking.Tests.Models;

/// <summary>
/// Writes small ranker releases with the Learning library's writers: a hand-built tree ensemble as the pre-ranker and
/// seeded random MLPs as the main ranker and the student, each through ModelPackage (ONNX export, manifest with hashes).
/// </summary>
public sealed class TestReleases : IDisposable
{
    public static readonly string[] PreFeatures = ["pop", "age", "ctr"];
    public static readonly string[] MainFeatures = ["ctr", "emb0", "emb1", "emb2"];
    public static readonly string[] StudentFeatures = ["pop", "emb0"];

    private static readonly DateTimeOffset CreatedAt = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    public TestReleases()
        : this(Path.Combine(Path.GetTempPath(), "recsys-ranking-tests", Guid.NewGuid().ToString("N")))
    {
    }

    /// <summary>Releases written under <paramref name="root"/> (e.g. a model registry's <c>rankers</c> folder).</summary>
    public TestReleases(string root)
    {
        Root = root;
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    public string PathOf(string release, string stage = "") => Path.Combine(Root, release, stage);

    /// <summary>Writes release <paramref name="name"/>: pre-ranker, main ranker and student, models seeded by <paramref name="seed"/>.</summary>
    public string Write(string name, int seed = 1, string[]? mainFeatures = null, float? outputBias = null)
    {
        var dir = Path.Combine(Root, name);
        ModelPackage.WriteTrees(Path.Combine(dir, ModelKinds.PreRanker), Trees(PreFeatures, seed), ModelKinds.PreRanker, $"{name}-pre", CreatedAt, Metrics);
        // An output bias shifts every logit (float.NaN: a main ranker whose every score is NaN).
        var main = Mlp(mainFeatures ?? MainFeatures, [8], seed + 100, outputBias);
        ModelPackage.WriteMlp(Path.Combine(dir, ModelKinds.MainRanker), main, ModelKinds.MainRanker, $"{name}-main", CreatedAt,
            [.. main.FeatureNames.Select(_ => 0.1)], Metrics);
        var student = Mlp(StudentFeatures, [4], seed + 200);
        ModelPackage.WriteMlp(Path.Combine(dir, ModelKinds.Student), student, ModelKinds.Student, $"{name}-student", CreatedAt,
            [.. student.FeatureNames.Select(_ => 0.1)], Metrics);
        return dir;
    }

    /// <summary>Replaces a stage's model.onnx and re-records its hash, so the manifest is valid but the graph is not what it says.</summary>
    public static void ReplaceModel(string stageDirectory, byte[] onnx)
    {
        File.WriteAllBytes(Path.Combine(stageDirectory, ModelPackage.OnnxFile), onnx);
        var manifest = ReadUnchecked(stageDirectory);
        (manifest with { Files = [.. manifest.Files.Select(f => ModelManifest.Describe(stageDirectory, f.Path))] }).Write(stageDirectory);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A session may still map a file on some platforms; the temp folder is cleaned by the OS.
        }
    }

    private static IReadOnlyDictionary<string, double> Metrics => new Dictionary<string, double>(StringComparer.Ordinal) { ["ndcg@10"] = 0.5 };

    private static ModelManifest ReadUnchecked(string stageDirectory)
    {
        // ModelManifest.Read would refuse it: the model file no longer matches the recorded hash.
        var json = File.ReadAllText(Path.Combine(stageDirectory, ModelManifest.FileName));
        return System.Text.Json.JsonSerializer.Deserialize<ModelManifest>(json, new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web))!;
    }

    /// <summary>Depth-2 trees with random splits and leaves: node 0 splits into nodes 1 and 2, each into two leaves.</summary>
    private static GbdtModel Trees(IReadOnlyList<string> features, int seed)
    {
        var random = new Random(seed);
        var trees = new List<GbdtTree>();
        for (var t = 0; t < 24; t++)
        {
            trees.Add(new GbdtTree(
                [random.Next(features.Count), random.Next(features.Count), random.Next(features.Count)],
                [random.NextDouble(), random.NextDouble(), random.NextDouble()],
                [1, ~0, ~2],
                [2, ~1, ~3],
                [random.NextDouble() - 0.5, random.NextDouble() - 0.5, random.NextDouble() - 0.5, random.NextDouble() - 0.5]));
        }

        return new GbdtModel(features, trees, [.. features.Select((_, i) => (double)(i + 1))], "hand-built test trees");
    }

    private static MlpModel Mlp(IReadOnlyList<string> features, int[] hidden, int seed, float? outputBias = null)
    {
        var random = new Random(seed);
        int[] sizes = [features.Count, .. hidden, 1];
        var weights = new float[sizes.Length - 1][];
        var biases = new float[sizes.Length - 1][];
        for (var l = 0; l < weights.Length; l++)
        {
            weights[l] = [.. Enumerable.Range(0, sizes[l] * sizes[l + 1]).Select(_ => (float)(random.NextDouble() - 0.5))];
            biases[l] = [.. Enumerable.Range(0, sizes[l + 1]).Select(_ => (float)(random.NextDouble() - 0.5) * 0.1f)];
        }

        if (outputBias is { } bias)
        {
            biases[^1][0] = bias;
        }

        return new MlpModel(features, sizes, weights, biases);
    }
}

/// <summary>
/// A hand-written feature provider: every supported feature of an item is a fixed pseudo-random number in [0, 1) derived
/// from the item id and the feature name (FNV-1a), so tests can recompute any row.
/// </summary>
public sealed class HashFeatureProvider(IEnumerable<string>? supported = null) : IRankingFeatureProvider
{
    private readonly HashSet<string> _supported = [.. supported ?? [.. TestReleases.PreFeatures, .. TestReleases.MainFeatures, .. TestReleases.StudentFeatures]];

    public Func<Exception?> Fail { get; set; } = static () => null;

    public int Calls { get; private set; }

    public bool Supports(string featureName) => _supported.Contains(featureName);

    public ValueTask<FeatureMatrix> FetchAsync(RankingQuery query, IReadOnlyList<RankingCandidate> candidates, IReadOnlyList<string> columns, CancellationToken cancellationToken)
    {
        Calls++;
        if (Fail() is { } error)
        {
            throw error;
        }

        var matrix = new FeatureMatrix(candidates.Count, columns);
        for (var r = 0; r < candidates.Count; r++)
        {
            var row = matrix.Row(r);
            for (var c = 0; c < columns.Count; c++)
            {
                row[c] = Value(candidates[r].ItemId, columns[c]);
            }
        }

        return ValueTask.FromResult(matrix);
    }

    public static float Value(string itemId, string feature)
    {
        var hash = 2166136261u;
        foreach (var ch in $"{itemId}|{feature}")
        {
            hash = (hash ^ ch) * 16777619u;
        }

        return (hash % 1_000_003) / 1_000_003f;
    }
}
