using RecSys.Learning.Ranking;
using RecSys.Ranking.Models;

namespace RecSys.Ranking.Tests.Models;

public sealed class RankerModelTests : IDisposable
{
    private readonly TestReleases _releases = new();

    public void Dispose() => _releases.Dispose();

    [Theory]
    [InlineData(1)]
    [InlineData(37)]
    [InlineData(600)]
    public async Task A_warm_run_allocates_nothing_and_matches_the_learning_scorer(int rows)
    {
        _releases.Write("v1");
        await using var serving = new Serving(_releases.Root, new HashFeatureProvider(), o => o.MaxRowsPerRun = 256);
        serving.Manager.Refresh();
        Assert.True(serving.Manager.TryAcquire(out var lease));
        using (lease)
        {
            var model = lease.Release.MainStage;
            var input = new float[rows * model.Width];
            for (var i = 0; i < input.Length; i++)
            {
                input[i] = (i * 0.37f) % 1f;
            }

            var scores = new float[rows];
            model.Score(input, scores);
            var before = GC.GetAllocatedBytesForCurrentThread();
            model.Score(input, scores);
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

            using var reference = new OnnxScorer(Path.Combine(_releases.PathOf("v1", ModelKinds.MainRanker), ModelPackage.OnnxFile), OnnxExport.LogitOutput);
            var expected = new float[rows];
            reference.ScoreAll(input, expected, batchSize: 256);
            Assert.Equal(0, allocated);
            for (var r = 0; r < rows; r++)
            {
                Assert.Equal(expected[r], scores[r], 1e-5f);
            }
        }
    }
}
