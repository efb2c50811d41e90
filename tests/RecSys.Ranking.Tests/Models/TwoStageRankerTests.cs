using RecSys.Learning.Ranking;
using RecSys.Ranking.Features;
using RecSys.Ranking.Models;

namespace RecSys.Ranking.Tests.Models;

public sealed class TwoStageRankerTests : IDisposable
{
    private readonly TestReleases _releases = new();

    public void Dispose() => _releases.Dispose();

    [Theory]
    [InlineData(ModelKinds.MainRanker, 300, 40, 10)]
    [InlineData(ModelKinds.Student, 300, 40, 10)]
    [InlineData(ModelKinds.MainRanker, 2500, 500, 50)]
    [InlineData(ModelKinds.MainRanker, 30, 40, 50)]
    public async Task The_order_is_the_pre_ranker_top_k_reordered_by_the_main_stage_as_the_learning_library_scores_them(
        string mainStage, int candidateCount, int keep, int count)
    {
        _releases.Write("v1");
        await using var serving = new Serving(_releases.Root, new HashFeatureProvider(), o =>
        {
            o.MainStage = mainStage;
            o.PreRankKeep = keep;
            o.MaxRowsPerRun = 256;
        });
        serving.Manager.Refresh();
        var candidates = Enumerable.Range(0, candidateCount).Select(i => new RankingCandidate($"item{i}", 1.0 / (i + 1), ["content"])).ToArray();

        var result = await serving.Ranker.RankAsync(new RankingQuery("u1", null, DateTimeOffset.UnixEpoch), candidates, count, CancellationToken.None);

        var expected = Expected(_releases, "v1", mainStage, candidates, keep, count);
        Assert.NotNull(result);
        Assert.Equal(expected.Select(e => e.Index), result.Items.Select(i => i.Index));
        for (var k = 0; k < expected.Length; k++)
        {
            Assert.Equal(expected[k].Main, result.Items[k].Score, 1e-5f);
            Assert.Equal(expected[k].Pre, result.Items[k].PreRankScore, 1e-5f);
        }

        Assert.Equal(candidateCount, result.PreRanked);
        Assert.Equal(Math.Min(keep, candidateCount), result.MainRanked);
        Assert.Equal("v1", result.Models.Release);
        Assert.Equal(mainStage, result.Models.MainStage);
        Assert.True(result.FeatureFetch >= TimeSpan.Zero && result.PreRank >= TimeSpan.Zero && result.MainRank >= TimeSpan.Zero);
    }

    [Fact]
    public async Task Features_are_fetched_once_for_the_union_of_both_models_columns()
    {
        _releases.Write("v1");
        var provider = new RecordingProvider();
        await using var serving = new Serving(_releases.Root, provider);
        serving.Manager.Refresh();

        await serving.Ranker.RankAsync(new RankingQuery("u1", "home", DateTimeOffset.UnixEpoch), [new("a", 1, []), new("b", 0.5, [])], 2, CancellationToken.None);

        Assert.Equal(1, provider.Calls);
        Assert.Equal(["pop", "age", "ctr", "emb0", "emb1", "emb2"], provider.LastColumns);
    }

    [Fact]
    public async Task No_release_means_no_learned_result()
    {
        await using var serving = new Serving(_releases.Root, new HashFeatureProvider());

        var result = await serving.Ranker.RankAsync(new RankingQuery("u1", null, DateTimeOffset.UnixEpoch), [new("a", 1, [])], 1, CancellationToken.None);

        Assert.Null(result);
    }

    [Fact]
    public async Task A_cancelled_request_ends_with_cancellation()
    {
        _releases.Write("v1");
        await using var serving = new Serving(_releases.Root, new HashFeatureProvider());
        serving.Manager.Refresh();
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            serving.Ranker.RankAsync(new RankingQuery("u1", null, DateTimeOffset.UnixEpoch), [new("a", 1, []), new("b", 1, [])], 1, cancelled.Token));
    }

    /// <summary>The two stages recomputed with the Learning library's ONNX scorer over rows built from the provider's formula.</summary>
    internal static (int Index, float Pre, float Main)[] Expected(TestReleases releases, string release, string mainStage, RankingCandidate[] candidates, int keep, int count)
    {
        using var pre = new OnnxScorer(Path.Combine(releases.PathOf(release, ModelKinds.PreRanker), ModelPackage.OnnxFile), OnnxExport.ScoreOutput);
        using var main = new OnnxScorer(Path.Combine(releases.PathOf(release, mainStage), ModelPackage.OnnxFile), OnnxExport.LogitOutput);
        var mainFeatures = mainStage == ModelKinds.Student ? TestReleases.StudentFeatures : TestReleases.MainFeatures;
        var preScores = new float[candidates.Length];
        pre.ScoreAll(Rows(candidates, TestReleases.PreFeatures), preScores);
        var selected = Order(preScores).Take(keep).ToArray();
        var mainScores = new float[selected.Length];
        main.ScoreAll(Rows([.. selected.Select(i => candidates[i])], mainFeatures), mainScores);
        return [.. Order(mainScores).Take(count).Select(r => (selected[r], preScores[selected[r]], mainScores[r]))];
    }

    private static float[] Rows(RankingCandidate[] candidates, string[] features) =>
        [.. candidates.SelectMany(c => features.Select(f => HashFeatureProvider.Value(c.ItemId, f)))];

    private static IEnumerable<int> Order(float[] scores) =>
        Enumerable.Range(0, scores.Length).OrderByDescending(i => scores[i]).ThenBy(i => i);

    private sealed class RecordingProvider : IRankingFeatureProvider
    {
        private readonly HashFeatureProvider _inner = new();

        public int Calls { get; private set; }

        public IReadOnlyList<string> LastColumns { get; private set; } = [];

        public bool Supports(string featureName) => _inner.Supports(featureName);

        public ValueTask<FeatureMatrix> FetchAsync(RankingQuery query, IReadOnlyList<RankingCandidate> candidates, IReadOnlyList<string> columns, CancellationToken cancellationToken)
        {
            Calls++;
            LastColumns = [.. columns];
            return _inner.FetchAsync(query, candidates, columns, cancellationToken);
        }
    }
}
