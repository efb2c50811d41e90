namespace RecSys.Batching.Tests;

public sealed class QueueAndCancellationTests
{
    /// <summary>Makes the scorer hold its batch until released, so later requests pile up in the queue.</summary>
    private static TaskCompletionSource BlockScorer(BatcherHarness h)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        h.OnScore = async (_, cancellationToken) => await release.Task.WaitAsync(cancellationToken);
        return release;
    }

    [Fact]
    public async Task Full_queue_rejects_at_once_with_a_retry_hint()
    {
        await using var h = new BatcherHarness(o => o with { MaxBatchRows = 16, QueueCapacityRows = 128 });
        var release = BlockScorer(h);
        var inFlight = h.Submit(h.NewRows(16)).Task;
        await h.WaitForBatchesAsync(1);
        var queued = Enumerable.Range(0, 8).Select(_ => h.Submit(h.NewRows(16)).Task).ToArray();
        Assert.Equal(128, h.Batcher.QueuedRows);

        var rejection = Assert.Throws<BatchQueueFullException>(() => h.Submit(h.NewRows(1)));
        Assert.Equal(128, rejection.QueuedRows);
        Assert.Equal(128, rejection.CapacityRows);
        Assert.True(rejection.RetryAfter >= h.Options.MaxWait, $"retry after {rejection.RetryAfter}");
        Assert.Equal(128, h.Batcher.QueuedRows);

        release.SetResult();
        await BatcherHarness.Bounded(Task.WhenAll(queued.Append(inFlight)));
        Assert.Equal(9, h.Batches.Count);
    }

    [Fact]
    public async Task Bad_requests_get_argument_errors()
    {
        await using var h = new BatcherHarness(o => o with { QueueCapacityRows = 256 });
        var tooShort = Assert.Throws<ArgumentException>(() => h.Batcher.ScoreAsync(h.NewRows(3), new float[2]));
        Assert.Contains("score buffer", tooShort.Message, StringComparison.Ordinal);
        var tooLarge = Assert.Throws<ArgumentException>(() => h.Batcher.ScoreAsync(h.NewRows(257), new float[257]));
        Assert.Contains("queue capacity", tooLarge.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Request_cancelled_before_submission_never_reaches_the_scorer()
    {
        await using var h = new BatcherHarness();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        var (task, _) = h.Submit(h.NewRows(4), cts.Token);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task);
        h.Time.Advance(h.Options.MaxWait);
        await h.SettleAsync();
        Assert.Empty(h.Batches);
        Assert.Equal(0, h.Batcher.QueuedRows);
    }

    [Fact]
    public async Task Request_cancelled_while_its_batch_forms_is_removed_from_it()
    {
        await using var h = new BatcherHarness();
        using var cts = new CancellationTokenSource();
        var cancelled = h.Submit(h.NewRows(3), cts.Token);
        var kept = h.NewRows(2);
        var other = h.Submit(kept);
        await h.SettleAsync();

        await cts.CancelAsync();
        // Prompt: no clock movement is needed for the caller to learn of its cancellation.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => BatcherHarness.Bounded(cancelled.Task));
        Assert.All(cancelled.Scores, s => Assert.True(float.IsNaN(s)));

        h.Time.Advance(h.Options.MaxWait);
        await BatcherHarness.Bounded(other.Task);
        var batch = Assert.Single(h.Batches);
        Assert.Equal(kept.Select(r => r.Id), batch.Ids(BatcherHarness.Width));
    }

    [Fact]
    public async Task Request_cancelled_while_queued_behind_a_busy_worker_never_reaches_the_scorer()
    {
        await using var h = new BatcherHarness(o => o with { MaxBatchRows = 16 });
        var release = BlockScorer(h);
        var first = h.Submit(h.NewRows(16));
        await h.WaitForBatchesAsync(1);
        using var cts = new CancellationTokenSource();
        var cancelled = h.Submit(h.NewRows(4), cts.Token);
        var kept = h.NewRows(4);
        var other = h.Submit(kept);

        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => BatcherHarness.Bounded(cancelled.Task));
        release.SetResult();
        await BatcherHarness.Bounded(first.Task);
        await h.SettleAsync();
        h.Time.Advance(h.Options.MaxWait);
        await BatcherHarness.Bounded(other.Task);

        Assert.Equal(2, h.Batches.Count);
        Assert.Equal(kept.Select(r => r.Id), h.Batches[1].Ids(BatcherHarness.Width));
    }

    [Fact]
    public async Task Request_cancelled_during_scoring_fails_at_once_and_its_buffer_is_never_written()
    {
        await using var h = new BatcherHarness(o => o with { MaxBatchRows = 16 });
        var release = BlockScorer(h);
        using var cts = new CancellationTokenSource();
        var cancelled = h.Submit(h.NewRows(8), cts.Token);
        var kept = h.NewRows(8);
        var other = h.Submit(kept);
        await h.WaitForBatchesAsync(1);

        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => BatcherHarness.Bounded(cancelled.Task));
        release.SetResult();
        await BatcherHarness.Bounded(other.Task);

        Assert.All(cancelled.Scores, s => Assert.True(float.IsNaN(s)));
        Assert.Equal(kept.Select(BatcherHarness.ExpectedScore), other.Scores);
    }

    [Fact]
    public async Task Cancelling_a_split_request_keeps_its_remaining_rows_out_of_later_batches()
    {
        await using var h = new BatcherHarness(o => o with { MaxBatchRows = 16 });
        var release = BlockScorer(h);
        using var cts = new CancellationTokenSource();
        var large = h.Submit(h.NewRows(40), cts.Token);
        await h.WaitForBatchesAsync(1);

        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => BatcherHarness.Bounded(large.Task));
        release.SetResult();
        var kept = h.NewRows(2);
        var other = h.Submit(kept);
        await h.SettleAsync();
        h.Time.Advance(h.Options.MaxWait);
        await BatcherHarness.Bounded(other.Task);

        Assert.Equal(2, h.Batches.Count);
        Assert.Equal(kept.Select(r => r.Id), h.Batches[1].Ids(BatcherHarness.Width));
    }

    [Fact]
    public async Task Scorer_failure_fails_only_the_requests_of_that_batch()
    {
        await using var h = new BatcherHarness(o => o with { MaxBatchRows = 16 });
        var failing = new InvalidOperationException("model crashed");
        h.OnScore = (batch, _) => h.Batches.Count == 1 ? ValueTask.FromException(failing) : ValueTask.CompletedTask;
        var doomed = Enumerable.Range(0, 2).Select(_ => h.Submit(h.NewRows(8)).Task).ToArray();
        var kept = h.NewRows(5);
        var survivor = h.Submit(kept);
        await h.SettleAsync();
        h.Time.Advance(h.Options.MaxWait);
        await BatcherHarness.Bounded(survivor.Task);

        foreach (var task in doomed)
        {
            var error = await Assert.ThrowsAsync<BatchScoringException>(() => task);
            Assert.Same(failing, error.InnerException);
        }

        Assert.Equal(kept.Select(BatcherHarness.ExpectedScore), survivor.Scores);
    }

    [Fact]
    public async Task Assembler_failure_fails_only_that_request()
    {
        await using var h = new BatcherHarness();
        var poisoned = h.NewRows(2);
        h.OnAssemble = row =>
        {
            if (row.Id == poisoned[1].Id)
            {
                throw new FormatException("bad feature");
            }
        };
        var bad = h.Submit(poisoned);
        var kept = h.NewRows(3);
        var good = h.Submit(kept);
        await h.SettleAsync();
        h.Time.Advance(h.Options.MaxWait);
        await BatcherHarness.Bounded(good.Task);

        var error = await Assert.ThrowsAsync<BatchScoringException>(() => bad.Task);
        Assert.IsType<FormatException>(error.InnerException);
        Assert.Equal(kept.Select(r => r.Id), Assert.Single(h.Batches).Ids(BatcherHarness.Width));
    }
}
