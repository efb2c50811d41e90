using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Microsoft.Extensions.Logging.Abstractions;
using RecSys.Learning.Ranking;
using RecSys.Ranking.Models;
using RecSys.Ranking.Serving;

namespace RecSys.Ranking.Tests.Models;

public sealed class CompiledTreeEnsembleTests : IDisposable
{
    private static readonly DateTimeOffset CreatedAt = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly Dictionary<string, double> Metrics = new(StringComparer.Ordinal) { ["ndcg@10"] = 0.5 };
    private readonly string _root = Path.Combine(Path.GetTempPath(), "recsys-compiled-trees", Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // A session may still map the file; the temp folder is cleaned by the OS.
        }
    }

    [Theory]
    [InlineData(1, 5, 31, 1)]
    [InlineData(2, 200, 31, 5_000)]
    [InlineData(3, 40, 2, 17)]
    [InlineData(4, 60, 63, 1_000)]
    [InlineData(5, 600, 32, 333)]
    [InlineData(6, 3, 32, 16)]
    public void Compiled_trees_score_exactly_as_onnx_runtime_on_random_rows(int seed, int trees, int leaves, int rows)
    {
        var features = Enumerable.Range(0, 12).Select(i => $"f{i}").ToArray();
        var model = RandomEnsemble(features, trees, leaves, seed);
        using var ranker = Open(model, compileTrees: true);
        Assert.Equal(RankerModel.CompiledTreesEngine, ranker.Engine);
        Assert.Equal(trees, ranker.CompiledTrees);
        Assert.Equal(0.0, ranker.CompiledMaxDifference ?? double.NaN);

        var random = new Random(seed + 100);
        var input = new float[rows * features.Length];
        for (var i = 0; i < input.Length; i++)
        {
            // Values on both sides of the thresholds (drawn from the same range), some exactly 0 and some NaN.
            input[i] = random.Next(50) switch
            {
                0 => 0f,
                1 => float.NaN,
                _ => (float)(random.NextDouble() * 2 - 1),
            };
        }

        var compiled = new float[rows];
        var onnx = new float[rows];
        ranker.Score(input, compiled);
        var before = GC.GetAllocatedBytesForCurrentThread();
        ranker.Score(input, compiled);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        ranker.ScoreWithOnnxRuntime(input, onnx);
        Assert.Equal(onnx, compiled);

        // Every method: QuickScorer where trees have at most 32 leaves (with 512-bit vectors where AVX-512 is on, and with
        // 256-bit ones side by side), the lock-step walk always; each bit for bit as ONNX Runtime.
        var ensemble = CompiledTreeEnsemble.TryCompile(OnnxExport.FromTrees(model, "trees"), features.Length, out _)!;
        var quickScorer = leaves <= 32 && Avx2.IsSupported;
        Assert.Equal(!quickScorer ? "lockstep" : Vector512.IsHardwareAccelerated && Avx512CD.IsSupported ? "quickscorer-avx512" : "quickscorer", ensemble.Method);
        var lockstep = new float[rows];
        ensemble.ScoreLockstep(input, lockstep);
        AssertSameBits(onnx, lockstep);
        AssertSameBits(onnx, compiled);
        var narrow = new float[rows];
        var wide = new float[rows];
        Assert.Equal(quickScorer, ensemble.TryScoreQuickScorer(input, narrow, allowWide: false));
        Assert.Equal(quickScorer, ensemble.TryScoreQuickScorer(input, wide, allowWide: true));
        if (quickScorer)
        {
            AssertSameBits(onnx, narrow);
            AssertSameBits(onnx, wide);
            before = GC.GetAllocatedBytesForCurrentThread();
            ensemble.TryScoreQuickScorer(input, narrow, allowWide: false);
            ensemble.TryScoreQuickScorer(input, wide, allowWide: true);
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        // And the C# walk of the parsed trees (in double) agrees to rounding.
        var reference = new float[rows];
        model.Score(input.Select(x => float.IsNaN(x) ? 0f : x).ToArray(), reference);
        var cleaned = input.Select(x => float.IsNaN(x) ? 0f : x).ToArray();
        ranker.Score(cleaned, compiled);
        for (var r = 0; r < rows; r++)
        {
            Assert.Equal(reference[r], compiled[r], 1e-4f);
        }
    }

    [Fact]
    public void Both_quickscorer_widths_pick_every_leaf_number_including_the_32nd()
    {
        // One feature, 32 leaves in a chain: row value v exits at leaf min(floor(v), 31), so bits 0-31 are all the exit bit.
        var thresholds = Enumerable.Range(0, 31).Select(i => i + 0.5).ToArray();
        var left = Enumerable.Range(0, 31).Select(i => ~i).ToArray();
        var right = Enumerable.Range(0, 31).Select(i => i < 30 ? i + 1 : ~31).ToArray();
        var values = Enumerable.Range(0, 32).Select(i => (double)(i + 1)).ToArray();
        var model = new GbdtModel(["x"], [new GbdtTree(new int[31], thresholds, left, right, values)], [1.0], "chain");
        var ensemble = CompiledTreeEnsemble.TryCompile(OnnxExport.FromTrees(model, "chain"), 1, out var reason);
        Assert.True(ensemble is not null, reason);
        var input = Enumerable.Range(0, 40).Select(i => (float)i).ToArray();
        var expected = new float[input.Length];
        ensemble.ScoreLockstep(input, expected);
        // Each of the 32 leaves (values 1-32) is an exit leaf; ONNX Runtime agrees on every row.
        Assert.Equal(32, expected.Distinct().Count());
        Assert.Equal(model.Trees[0].LeafValue.Select(v => (float)v).Order(), expected.Distinct().Order());
        foreach (var wide in new[] { false, true })
        {
            var scores = new float[input.Length];
            if (ensemble.TryScoreQuickScorer(input, scores, wide))
            {
                AssertSameBits(expected, scores);
            }
        }
    }

    [Fact]
    public void Without_the_option_onnx_runtime_scores()
    {
        var model = RandomEnsemble(["a", "b"], 10, 8, 9);
        using var ranker = Open(model, compileTrees: false);
        Assert.Equal(RankerModel.OnnxRuntimeEngine, ranker.Engine);
        Assert.Null(ranker.CompileRefusal);
    }

    [Fact]
    public void A_graph_that_is_not_a_tree_ensemble_is_refused_with_the_reason()
    {
        var mlp = new MlpModel(["a", "b"], [2, 3, 1], [[0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f], [0.1f, 0.2f, 0.3f]], [[0f, 0f, 0f], [0f]]);
        var compiled = CompiledTreeEnsemble.TryCompile(OnnxExport.FromMlp(mlp, "mlp"), 2, out var reason);
        Assert.Null(compiled);
        Assert.Contains("not one node", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_split_on_a_feature_beyond_the_width_is_refused()
    {
        var model = RandomEnsemble(["a", "b", "c"], 5, 4, 3);
        Assert.NotNull(CompiledTreeEnsemble.TryCompile(OnnxExport.FromTrees(model, "trees"), 3, out _));
        Assert.Null(CompiledTreeEnsemble.TryCompile(OnnxExport.FromTrees(model, "trees"), 1, out var reason));
        Assert.Contains("splits on feature", reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_loader_compiles_the_pre_ranker_only()
    {
        using var releases = new TestReleases(Path.Combine(_root, "releases"));
        releases.Write("v1");
        var options = new RankingModelOptions { Path = releases.Root };
        var loader = new RankerReleaseLoader(new ExecutionProviderSelector(options, NullLogger<ExecutionProviderSelector>.Instance), new HashFeatureProvider(),
            TimeProvider.System, NullLogger<RankerReleaseLoader>.Instance);
        var release = loader.Load(releases.PathOf("v1"), options);
        try
        {
            Assert.Equal(RankerModel.CompiledTreesEngine, release.PreRanker.Engine);
            Assert.Equal(RankerModel.OnnxRuntimeEngine, release.MainStage.Engine);
        }
        finally
        {
            await release.CloseUnpublishedAsync();
        }
    }

    private static void AssertSameBits(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]), $"row {i}: {expected[i]:R} != {actual[i]:R}");
        }
    }

    private RankerModel Open(GbdtModel model, bool compileTrees)
    {
        var directory = Path.Combine(_root, Guid.NewGuid().ToString("N"), ModelKinds.PreRanker);
        var manifest = ModelPackage.WriteTrees(directory, model, ModelKinds.PreRanker, "test-pre", CreatedAt, Metrics);
        var providers = new ExecutionProviderSelector(new RankingModelOptions(), NullLogger<ExecutionProviderSelector>.Instance);
        return RankerModel.Open(directory, manifest, providers, 256, compileTrees);
    }

    /// <summary>
    /// Trees grown leaf-wise as LightGBM does (a random leaf split each time, so depths vary), random features, thresholds
    /// in (-1, 1) at double precision, and leaf values of either sign.
    /// </summary>
    private static GbdtModel RandomEnsemble(IReadOnlyList<string> features, int trees, int leaves, int seed)
    {
        var random = new Random(seed);
        var list = new List<GbdtTree>();
        for (var t = 0; t < trees; t++)
        {
            var split = new List<int>();
            var threshold = new List<double>();
            var left = new List<int>();
            var right = new List<int>();
            // Leaves as (parent internal node, is left child); leaf k is ~k in the child arrays.
            var leafOwners = new List<(int Node, bool Left)> { (-1, true) };
            for (var internalCount = 0; internalCount < leaves - 1; internalCount++)
            {
                var leaf = random.Next(leafOwners.Count);
                var (parent, isLeft) = leafOwners[leaf];
                var node = split.Count;
                split.Add(random.Next(features.Count));
                threshold.Add((random.NextDouble() * 2) - 1);
                left.Add(~leaf);
                right.Add(~leafOwners.Count);
                if (parent >= 0)
                {
                    if (isLeft)
                    {
                        left[parent] = node;
                    }
                    else
                    {
                        right[parent] = node;
                    }
                }

                leafOwners[leaf] = (node, true);
                leafOwners.Add((node, false));
            }

            var values = Enumerable.Range(0, leaves).Select(_ => (random.NextDouble() - 0.5) * 0.3).ToArray();
            list.Add(leaves == 1 ? new GbdtTree([], [], [], [], values) : new GbdtTree([.. split], [.. threshold], [.. left], [.. right], values));
        }

        return new GbdtModel(features, list, [.. features.Select((_, i) => (double)(i + 1))], "random test trees");
    }
}
