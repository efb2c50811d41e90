using RecSys.Learning.Ranking;
using RecSys.Trainer.Ranking;

namespace RecSys.Trainer.Tests.Ranking;

public sealed class PreRankerComparisonTests
{
    [Theory]
    [InlineData("50x15", 50, 15, 0.05)]
    [InlineData("100X7@0.1", 100, 7, 0.1)]
    [InlineData("25x31@2e-1", 25, 31, 0.2)]
    public void Settings_parse_rounds_leaves_and_an_optional_rate(string text, int rounds, int leaves, double rate)
    {
        var setting = PreRankerSetting.Parse(text, defaultRate: 0.05);
        Assert.Equal(new PreRankerSetting(rounds, leaves, rate), setting);
        var options = setting.Apply(new GbdtRankerOptions { MinRowsPerLeaf = 7, Threads = 1 });
        Assert.Equal((rounds, leaves, rate, 7, 1), (options.Iterations, options.Leaves, options.LearningRate, options.MinRowsPerLeaf, options.Threads));
        Assert.Equal(setting, PreRankerSetting.Parse(setting.ToString(), defaultRate: 1));
    }

    [Theory]
    [InlineData("50")]
    [InlineData("50x")]
    [InlineData("x15")]
    [InlineData("50x15x3")]
    [InlineData("-5x15")]
    [InlineData("50x15@fast")]
    public void Malformed_settings_are_refused(string text) =>
        Assert.Throws<FormatException>(() => PreRankerSetting.Parse(text, defaultRate: 0.05));

    [Fact]
    public void Recall_counts_the_main_rankers_best_rows_among_the_pre_rankers_kept_ones_per_group()
    {
        // Two groups of four rows. Group 0: the main ranker's best two are rows 0 and 1; the pre-ranker keeps rows 1 and 2, so half.
        // Group 1: the main ranker's best two are rows 6 and 7, both kept. The mean is 0.75; for the single best, (0 + 1) / 2.
        var data = new RankingDataset(["x"], new float[8], new float[8], [1, 1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1, 1, 1], new SegmentKey[8]);
        float[] main = [0.9f, 0.8f, 0.1f, 0.0f, 0.1f, 0.2f, 0.7f, 0.6f];
        float[] pre = [0.1f, 0.9f, 0.8f, 0.0f, 0.0f, 0.5f, 0.9f, 0.8f];
        Assert.Equal(0.75, PreRankerComparison.RecallOfMainTop(data, main, pre, keep: 2, k: 2), 12);
        Assert.Equal(0.5, PreRankerComparison.RecallOfMainTop(data, main, pre, keep: 2, k: 1), 12);
        Assert.Equal(1.0, PreRankerComparison.RecallOfMainTop(data, main, pre, keep: 4, k: 2), 12);

        // Equal pre-ranker scores keep row order (as the evaluation's lists do): rows 0 and 1 are kept in each group.
        Assert.Equal(0.5, PreRankerComparison.RecallOfMainTop(data, main, new float[8], keep: 2, k: 2), 12);
    }
}
