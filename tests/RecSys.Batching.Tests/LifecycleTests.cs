using System.Diagnostics.Metrics;

namespace RecSys.Batching.Tests;

public sealed class LifecycleTests
{
    [Fact]
    public async Task Disposal_scores_the_requests_still_waiting_for_their_batch()
    {
        var h = new BatcherHarness();
        var rows = h.NewRows(3);
        var (task, scores) = h.Submit(rows);
        await h.SettleAsync();

        await BatcherHarness.Bounded(h.Batcher.DisposeAsync().AsTask());

        await BatcherHarness.Bounded(task);
        Assert.Equal(rows.Select(BatcherHarness.ExpectedScore), scores);
        Assert.Throws<ObjectDisposedException>(() => h.Submit(h.NewRows(1)));
    }

    [Fact]
    public async Task Disposal_fails_what_is_left_after_the_drain_timeout_and_cancels_the_scorer()
    {
        var h = new BatcherHarness(o => o with { MaxBatchRows = 16, DrainTimeout = TimeSpan.FromSeconds(2) });
        var scorerCancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        h.OnScore = async (_, cancellationToken) =>
        {
            var wait = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await using (cancellationToken.Register(() => wait.TrySetResult()))
            {
                await wait.Task;
            }

            scorerCancelled.TrySetResult();
            cancellationToken.ThrowIfCancellationRequested();
        };
        var inFlight = h.Submit(h.NewRows(16)).Task;
        await h.WaitForBatchesAsync(1);
        var queued = h.Submit(h.NewRows(4)).Task;

        var disposal = h.Batcher.DisposeAsync().AsTask();
        // Nothing moves until the (fake) drain timeout passes.
        Assert.False(disposal.IsCompleted);
        while (!disposal.IsCompleted)
        {
            h.Time.Advance(TimeSpan.FromSeconds(1));
            await Task.WhenAny(disposal, Task.Delay(10));
        }

        await BatcherHarness.Bounded(disposal);
        await BatcherHarness.Bounded(scorerCancelled.Task);
        var scoringError = await Assert.ThrowsAsync<BatchScoringException>(() => BatcherHarness.Bounded(inFlight));
        Assert.IsAssignableFrom<OperationCanceledException>(scoringError.InnerException);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => BatcherHarness.Bounded(queued));
        Assert.Single(h.Batches);
    }

    [Theory]
    [InlineData("FeatureWidth")]
    [InlineData("MaxBatchRows")]
    [InlineData("MinBatchRows")]
    [InlineData("MaxWait")]
    [InlineData("EarlyTriggerWait")]
    [InlineData("QueueCapacityRows")]
    [InlineData("ShrinkFactor")]
    [InlineData("WorkerCount")]
    public void Options_out_of_range_are_named_in_the_error(string setting)
    {
        var valid = new DynamicBatchingOptions { FeatureWidth = 4 };
        valid.Validate();
        var invalid = setting switch
        {
            "FeatureWidth" => valid with { FeatureWidth = 0 },
            "MaxBatchRows" => valid with { MaxBatchRows = 200 },
            "MinBatchRows" => valid with { MinBatchRows = 0 },
            "MaxWait" => valid with { MaxWait = TimeSpan.FromMilliseconds(20) },
            "EarlyTriggerWait" => valid with { EarlyTriggerWait = 1.5 },
            "QueueCapacityRows" => valid with { QueueCapacityRows = 10 },
            "ShrinkFactor" => valid with { ShrinkFactor = 1.1 },
            "WorkerCount" => valid with { WorkerCount = 0 },
            _ => throw new ArgumentOutOfRangeException(nameof(setting)),
        };

        var error = Assert.Throws<ArgumentException>(invalid.Validate);
        Assert.Contains(setting, error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new DynamicBatcher<TestRow>(invalid, (_, _) => { }, (_, _, _, _, _) => ValueTask.CompletedTask));
    }

    [Fact]
    public async Task Metrics_report_batch_sizes_queue_wait_depth_and_rejections()
    {
        var measurements = new List<(string Name, double Value)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "RecSys.Batching")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<int>((i, v, _, _) => { lock (measurements) { measurements.Add((i.Name, v)); } });
        listener.SetMeasurementEventCallback<long>((i, v, _, _) => { lock (measurements) { measurements.Add((i.Name, v)); } });
        listener.SetMeasurementEventCallback<double>((i, v, _, _) => { lock (measurements) { measurements.Add((i.Name, v)); } });
        listener.Start();

        await using var h = new BatcherHarness(o => o with { Name = "metrics-test", MaxBatchRows = 16, QueueCapacityRows = 128 });
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        h.OnScore = (_, _) => h.Batches.Count >= 2 ? new ValueTask(release.Task) : ValueTask.CompletedTask;
        var (task, _) = h.Submit(h.NewRows(3));
        await h.SettleAsync();
        h.Time.Advance(TimeSpan.FromMilliseconds(5));
        await BatcherHarness.Bounded(task);
        var (busy, _) = h.Submit(h.NewRows(16));
        await h.WaitForBatchesAsync(2);
        var (queued, _) = h.Submit(h.NewRows(128));
        Assert.Throws<BatchQueueFullException>(() => h.Submit(h.NewRows(1)));
        listener.RecordObservableInstruments();
        release.SetResult();
        await BatcherHarness.Bounded(Task.WhenAll(busy, queued));

        List<(string Name, double Value)> seen;
        lock (measurements)
        {
            seen = [.. measurements];
        }

        Assert.Contains(("recsys.batching.batch.size", 3), seen);
        Assert.Contains(("recsys.batching.queue.wait", 0.005), seen);
        Assert.Contains(("recsys.batching.rejections", 1), seen);
        Assert.Contains(("recsys.batching.queue.depth", 128), seen);
        Assert.Contains(("recsys.batching.limit.max_batch_size", 16), seen);
    }
}
