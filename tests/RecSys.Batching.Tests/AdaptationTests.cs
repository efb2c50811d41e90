using Microsoft.Extensions.Time.Testing;

namespace RecSys.Batching.Tests;

public sealed class AdaptationTests
{
    private static readonly DynamicBatchingOptions Options = new()
    {
        FeatureWidth = 1,
        TargetP99 = TimeSpan.FromMilliseconds(30),
        AdaptationInterval = TimeSpan.FromSeconds(1),
        AdaptationMinSamples = 10,
    };

    private static long[] Latencies(double milliseconds, int count = 100) =>
        Enumerable.Repeat(TimeSpan.FromMilliseconds(milliseconds).Ticks, count).ToArray();

    /// <summary>Feeds one window of latencies and closes it.</summary>
    private static LimitsChange? Window(AdaptiveLimits limits, FakeTimeProvider time, double milliseconds, bool full = true)
    {
        time.Advance(Options.AdaptationInterval);
        return limits.Observe(Latencies(milliseconds), full);
    }

    [Fact]
    public void Limits_shrink_by_0_8_above_target_and_stop_at_16_rows_and_2_ms()
    {
        var time = new FakeTimeProvider();
        var limits = new AdaptiveLimits(Options, time);
        var rows = new List<int>();
        var waits = new List<double>();
        for (var i = 0; i < 8; i++)
        {
            Window(limits, time, 45);
            rows.Add(limits.Current.MaxBatchRows);
            waits.Add(Math.Round(limits.Current.MaxWait.TotalMilliseconds, 3));
        }

        Assert.Equal([51, 40, 32, 26, 20, 16, 16, 16], rows);
        Assert.Equal([4, 3.2, 2.56, 2.048, 2, 2, 2, 2], waits);
    }

    [Fact]
    public void Limits_grow_by_1_2_well_below_target_and_stop_at_128_rows_and_10_ms()
    {
        var time = new FakeTimeProvider();
        var limits = new AdaptiveLimits(Options, time);
        var rows = new List<int>();
        var waits = new List<double>();
        for (var i = 0; i < 6; i++)
        {
            Window(limits, time, 5);
            rows.Add(limits.Current.MaxBatchRows);
            waits.Add(Math.Round(limits.Current.MaxWait.TotalMilliseconds, 3));
        }

        Assert.Equal([76, 92, 110, 128, 128, 128], rows);
        Assert.Equal([6, 7.2, 8.64, 10, 10, 10], waits);
    }

    [Fact]
    public void Limits_hold_between_0_7_and_1_times_the_target()
    {
        var time = new FakeTimeProvider();
        var limits = new AdaptiveLimits(Options, time);
        Assert.Null(Window(limits, time, 25));
        Assert.Null(Window(limits, time, 30));
        Assert.Equal(new BatchingLimits(64, TimeSpan.FromMilliseconds(5)), limits.Current);
    }

    [Fact]
    public void Limits_grow_only_when_batches_fill_unless_told_otherwise()
    {
        var time = new FakeTimeProvider();
        var strict = new AdaptiveLimits(Options, time);
        Assert.Null(Window(strict, time, 5, full: false));

        var loose = new AdaptiveLimits(Options with { GrowOnlyWhenBatchesFill = false }, time);
        Assert.NotNull(Window(loose, time, 5, full: false));
        Assert.Equal(76, loose.Current.MaxBatchRows);
    }

    [Fact]
    public void A_window_needs_its_interval_and_enough_samples()
    {
        var time = new FakeTimeProvider();
        var limits = new AdaptiveLimits(Options, time);
        time.Advance(Options.AdaptationInterval - TimeSpan.FromTicks(1));
        Assert.Null(limits.Observe(Latencies(45), batchWasFull: true));
        time.Advance(TimeSpan.FromTicks(1));
        Assert.NotNull(limits.Observe(Latencies(45), batchWasFull: true));

        var sparse = new AdaptiveLimits(Options, time);
        time.Advance(Options.AdaptationInterval);
        Assert.Null(sparse.Observe(Latencies(45, Options.AdaptationMinSamples - 1), true));
        Assert.NotNull(sparse.Observe(Latencies(45, 1), true));
    }

    [Fact]
    public void P99_is_the_nearest_rank_of_the_window()
    {
        var time = new FakeTimeProvider();
        var limits = new AdaptiveLimits(Options, time);
        // 99 fast and 1 slow: the 99th of 100 is fast, so the limits grow.
        var onlyOneSlow = Latencies(1, 99).Append(TimeSpan.FromMilliseconds(500).Ticks).ToArray();
        time.Advance(Options.AdaptationInterval);
        Assert.Equal(TimeSpan.FromMilliseconds(1), limits.Observe(onlyOneSlow, true)!.Value.P99);

        // Two slow of 100: the 99th is slow, so they shrink.
        var twoSlow = Latencies(1, 98).Concat(Latencies(500, 2)).ToArray();
        time.Advance(Options.AdaptationInterval);
        Assert.Equal(TimeSpan.FromMilliseconds(500), limits.Observe(twoSlow, true)!.Value.P99);
    }

    [Fact]
    public void Disabled_adaptation_never_moves()
    {
        var time = new FakeTimeProvider();
        var limits = new AdaptiveLimits(Options with { AdaptationEnabled = false }, time);
        Assert.Null(Window(limits, time, 500));
        Assert.Equal(64, limits.Current.MaxBatchRows);
    }

    [Fact]
    public async Task Batcher_shrinks_its_limits_when_the_scorer_is_slower_than_the_target()
    {
        await using var h = new BatcherHarness(o => o with { MaxBatchRows = 16, AdaptationEnabled = true, AdaptationMinSamples = 16, MinBatchRows = 8 });
        // Each batch takes 40 ms of (fake) time: every request's latency exceeds the 30 ms target. The first batch waits
        // until all requests are queued, so every batch is full and 25 batches make exactly one 1 s window.
        var allQueued = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        h.OnScore = async (_, _) =>
        {
            await allQueued.Task;
            h.Time.Advance(TimeSpan.FromMilliseconds(40));
        };
        var rows = h.NewRows(16 * 30);
        var tasks = rows.Select(r => h.Submit([r]).Task).ToArray();
        allQueued.SetResult();
        await BatcherHarness.Bounded(Task.WhenAll(tasks));

        Assert.Equal(30, h.Batches.Count);

        Assert.Equal(16, h.Batcher.CurrentLimits.MaxBatchRows);
        Assert.Equal(TimeSpan.FromMilliseconds(4), h.Batcher.CurrentLimits.MaxWait);
    }
}
