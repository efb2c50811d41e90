using RecSys.Rollout.Statistics;

namespace RecSys.Rollout.Tests;

public sealed class StatisticsTests
{
    [Theory]
    [InlineData(0.8276, 0.50)]
    [InlineData(1.2239, 0.10)]
    [InlineData(1.3581, 0.05)]
    [InlineData(1.6276, 0.01)]
    [InlineData(1.9495, 0.001)]
    public void The_kolmogorov_tail_matches_the_tabulated_critical_values(double lambda, double expected) =>
        Assert.Equal(expected, KolmogorovSmirnov.KolmogorovSurvival(lambda), expected * 0.01);

    [Fact]
    public void Both_series_of_the_kolmogorov_tail_agree_where_they_meet()
    {
        var below = KolmogorovSmirnov.KolmogorovSurvival(1.18 - 1e-9);
        var above = KolmogorovSmirnov.KolmogorovSurvival(1.18);
        Assert.Equal(below, above, 1e-7);
        Assert.Equal(1, KolmogorovSmirnov.KolmogorovSurvival(0));
        Assert.Throws<ArgumentException>(() => KolmogorovSmirnov.KolmogorovSurvival(double.NaN));
    }

    [Fact]
    public void The_ks_statistic_is_the_largest_gap_between_the_empirical_distributions()
    {
        Assert.Equal(1.0 / 3, KolmogorovSmirnov.Statistic([1f, 2f, 3f], [1.5f, 2.5f, 3.5f]), 1e-12);
        Assert.Equal(1, KolmogorovSmirnov.Statistic([1f, 2f], [3f, 4f]));
        Assert.Equal(0, KolmogorovSmirnov.Statistic([1f, 1f, 2f], [2f, 1f, 1f]));
        Assert.Equal(0.5, KolmogorovSmirnov.Statistic([1f, 1f], [1f, 2f]));
        Assert.Throws<ArgumentException>(() => KolmogorovSmirnov.Statistic([], [1f]));
    }

    [Fact]
    public void The_ks_test_rejects_at_its_stated_rate_under_the_null_and_sees_a_shift()
    {
        var random = new Random(5);
        float[] Sample(double shift) => [.. Enumerable.Range(0, 500).Select(_ => (float)(Gaussian(random) + shift))];
        var nullRejections = Enumerable.Range(0, 400).Count(_ => KolmogorovSmirnov.PValue(KolmogorovSmirnov.Statistic(Sample(0), Sample(0)), 500, 500) <= 0.01);
        var shiftDetections = Enumerable.Range(0, 100).Count(_ => KolmogorovSmirnov.PValue(KolmogorovSmirnov.Statistic(Sample(0), Sample(0.3)), 500, 500) <= 0.01);

        Assert.InRange(nullRejections, 0, 12); // 1 % of 400 = 4 expected.
        Assert.True(shiftDetections >= 90, $"{shiftDetections} of 100 shifts detected");
    }

    [Fact]
    public void The_confidence_sequence_keeps_its_false_alarm_rate_under_continuous_monitoring_where_a_fixed_test_does_not()
    {
        // Two arms with the same CTR of 10 %, checked after every 100 requests up to 20,000: the fraction of runs in which
        // the interval ever excludes the true difference (0) must stay at or below α; a fixed 95 % z-test checked as often must not.
        const int Runs = 200;
        const double Alpha = 0.05;
        var random = new Random(17);
        int alwaysValidAlarms = 0, naiveAlarms = 0;
        for (var run = 0; run < Runs; run++)
        {
            var a = new RatioAccumulator();
            var b = new RatioAccumulator();
            bool alwaysValid = false, naive = false;
            for (var n = 1; n <= 20_000; n++)
            {
                a.AddRequest(1);
                if (random.NextDouble() < 0.1)
                {
                    a.AddClick(1, 0);
                }

                b.AddRequest(1);
                if (random.NextDouble() < 0.1)
                {
                    b.AddClick(1, 0);
                }

                if (n % 100 == 0)
                {
                    var (ea, eb) = (a.Estimate(), b.Estimate());
                    var difference = ea.Ratio - eb.Ratio;
                    var variance = ea.Variance + eb.Variance;
                    alwaysValid |= Math.Abs(difference) > NormalMixtureConfidenceSequence.HalfWidth(variance, 0.01, Alpha);
                    naive |= Math.Abs(difference) > 1.96 * Math.Sqrt(variance);
                }
            }

            alwaysValidAlarms += alwaysValid ? 1 : 0;
            naiveAlarms += naive ? 1 : 0;
        }

        Assert.True(alwaysValidAlarms <= Runs * Alpha, $"always-valid: {alwaysValidAlarms} of {Runs}");
        Assert.True(naiveAlarms > Runs * Alpha * 2, $"naive peeking: {naiveAlarms} of {Runs}");
    }

    [Fact]
    public void The_confidence_sequence_matches_its_likelihood_ratio_boundary()
    {
        const double Variance = 2e-5, Tau = 0.01, Alpha = 0.05;
        var width = NormalMixtureConfidenceSequence.HalfWidth(Variance, Tau, Alpha);
        // At the boundary the mixture likelihood ratio equals 1/α.
        Assert.Equal(1 / Alpha, NormalMixtureConfidenceSequence.LikelihoodRatio(0.1 + width, 0.1, Variance, Tau), 1e-6);
        Assert.True(NormalMixtureConfidenceSequence.HalfWidth(Variance / 4, Tau, Alpha) < width);
        Assert.Throws<ArgumentOutOfRangeException>(() => NormalMixtureConfidenceSequence.HalfWidth(1e-4, Tau, 0));
    }

    [Fact]
    public void The_ratio_variance_accounts_for_clicks_clustered_within_requests()
    {
        // 1,000 requests of 5 impressions; a tenth of them get all 5 clicks: CTR 10 %, but far noisier than 5,000 independent impressions.
        var clustered = new RatioAccumulator();
        for (var r = 0; r < 1_000; r++)
        {
            clustered.AddRequest(5);
            for (var c = 0; r % 10 == 0 && c < 5; c++)
            {
                clustered.AddClick(5, c);
            }
        }

        var estimate = clustered.Estimate();
        Assert.Equal(0.1, estimate.Ratio, 1e-12);
        Assert.Equal(5_000, estimate.Denominator);
        Assert.Equal(500, estimate.Numerator);
        var binomial = 0.1 * 0.9 / 5_000;
        Assert.InRange(estimate.Variance / binomial, 4, 6); // Design effect of whole-request clusters of 5.
    }

    [Fact]
    public void Wilson_bounds_stay_inside_0_and_1_and_cover_the_rate()
    {
        var (lower, upper) = Wilson.Interval(0, 100, 1.96);
        Assert.Equal(0, lower);
        Assert.InRange(upper, 0.03, 0.045);
        var (l2, u2) = Wilson.Interval(50, 100, 1.96);
        Assert.Equal(0.5 - l2, u2 - 0.5, 1e-12);
        Assert.Equal((0.0, 1.0), Wilson.Interval(0, 0, 1.96));
    }

    [Fact]
    public void The_latency_histogram_knows_quantiles_to_within_its_bucket_width()
    {
        var histogram = new LatencyHistogram();
        for (var ms = 1; ms <= 1_000; ms++)
        {
            histogram.Record(TimeSpan.FromMilliseconds(ms));
        }

        Assert.Equal(1_000, histogram.Count);
        Assert.Equal(990_000, histogram.ValueAtRank(990, BucketEdge.Middle), 990_000 * 0.02);
        Assert.Equal(500_000, histogram.ValueAtRank(500, BucketEdge.Middle), 500_000 * 0.02);
        Assert.True(histogram.ValueAtRank(990, BucketEdge.Lower) <= 990_000 && histogram.ValueAtRank(990, BucketEdge.Upper) >= 990_000);
    }

    [Fact]
    public void The_bottom_k_sample_is_bounded_uniform_and_coordinated()
    {
        var first = new BottomKSample(1_000);
        var second = new BottomKSample(1_000);
        var random = new Random(3);
        for (var i = 0; i < 100_000; i++)
        {
            var key = (ulong)random.NextInt64();
            first.Offer(key, i);
            second.Offer(key, i);
        }

        var sample = first.Snapshot();
        Assert.Equal(1_000, sample.Length);
        Assert.Equal(sample.Order(), second.Snapshot().Order());
        Assert.InRange(sample.Average(), 50_000 - 3_000, 50_000 + 3_000); // sd of the mean ≈ 913.
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
