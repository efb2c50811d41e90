namespace RecSys.Batching.Tests;

public sealed class BatchFormationTests
{
    private static readonly TimeSpan Tick = TimeSpan.FromTicks(1);

    [Fact]
    public async Task Batch_closes_at_max_rows_without_waiting()
    {
        await using var h = new BatcherHarness(o => o with { MaxBatchRows = 16 });
        var submitted = Enumerable.Range(0, 16).Select(_ => h.Submit(h.NewRows(1))).ToArray();

        await BatcherHarness.Bounded(Task.WhenAll(submitted.Select(s => s.Task)));

        var batch = Assert.Single(h.Batches);
        Assert.Equal(16, batch.Rows);
        Assert.Equal(Enumerable.Range(1, 16), batch.Ids(BatcherHarness.Width));
    }

    [Fact]
    public async Task Batch_closes_at_max_wait_when_not_full()
    {
        await using var h = new BatcherHarness();
        var rows = h.NewRows(3);
        var (task, scores) = h.Submit(rows);
        await h.SettleAsync();
        h.Time.Advance(h.Options.MaxWait - Tick);
        await h.SettleAsync();
        Assert.Empty(h.Batches);

        h.Time.Advance(Tick);
        await BatcherHarness.Bounded(task);

        var batch = Assert.Single(h.Batches);
        Assert.Equal(4, batch.Rows);
        Assert.Equal(rows.Select(BatcherHarness.ExpectedScore), scores);
    }

    [Fact]
    public async Task Half_full_batch_closes_early_at_80_percent_of_the_wait()
    {
        await using var h = new BatcherHarness();
        var tasks = Enumerable.Range(0, 4).Select(_ => h.Submit(h.NewRows(8)).Task).ToArray();
        await h.SettleAsync();
        h.Time.Advance((h.Options.MaxWait * 0.8) - Tick);
        await h.SettleAsync();
        Assert.Empty(h.Batches);

        h.Time.Advance(Tick);
        await BatcherHarness.Bounded(Task.WhenAll(tasks));

        Assert.Equal(32, Assert.Single(h.Batches).Rows);
    }

    [Fact]
    public async Task Less_than_half_a_batch_waits_for_the_full_wait()
    {
        await using var h = new BatcherHarness();
        var (task, _) = h.Submit(h.NewRows(31));
        await h.SettleAsync();
        h.Time.Advance(h.Options.MaxWait * 0.8);
        await h.SettleAsync();
        Assert.Empty(h.Batches);

        h.Time.Advance(h.Options.MaxWait * 0.2);
        await BatcherHarness.Bounded(task);
        Assert.Equal(32, Assert.Single(h.Batches).Rows);
    }

    [Fact]
    public async Task Early_trigger_needs_the_minimum_batch_but_the_deadline_does_not()
    {
        // Half of 16 is 8, but the minimum batch of 12 governs the early trigger.
        await using var h = new BatcherHarness(o => o with { MaxBatchRows = 16, MinBatchRows = 12 });
        var (small, _) = h.Submit(h.NewRows(10));
        await h.SettleAsync();
        h.Time.Advance(h.Options.MaxWait * 0.8);
        await h.SettleAsync();
        Assert.Empty(h.Batches);
        h.Time.Advance(h.Options.MaxWait * 0.2);
        await BatcherHarness.Bounded(small);
        Assert.Equal(16, Assert.Single(h.Batches).Rows);

        var (enough, _) = h.Submit(h.NewRows(12));
        await h.SettleAsync();
        h.Time.Advance(h.Options.MaxWait * 0.8);
        await BatcherHarness.Bounded(enough);
        Assert.Equal(2, h.Batches.Count);
    }

    [Fact]
    public async Task Batch_is_padded_to_a_power_of_two_with_zero_rows()
    {
        await using var h = new BatcherHarness();
        var rows = h.NewRows(5);
        var (task, scores) = h.Submit(rows);
        await h.SettleAsync();
        h.Time.Advance(h.Options.MaxWait);
        await BatcherHarness.Bounded(task);

        var batch = Assert.Single(h.Batches);
        Assert.Equal(8, batch.Rows);
        Assert.All(batch.Features.Skip(5 * BatcherHarness.Width), value => Assert.Equal(0f, value));
        Assert.Equal(rows.Select(BatcherHarness.ExpectedScore), scores);
    }

    [Fact]
    public async Task Padding_can_be_switched_off()
    {
        await using var h = new BatcherHarness(o => o with { PadToPowerOfTwo = false });
        var (task, _) = h.Submit(h.NewRows(5));
        await h.SettleAsync();
        h.Time.Advance(h.Options.MaxWait);
        await BatcherHarness.Bounded(task);
        Assert.Equal(5, Assert.Single(h.Batches).Rows);
    }

    [Fact]
    public async Task Large_request_is_split_across_consecutive_batches_in_order()
    {
        await using var h = new BatcherHarness(o => o with { MaxBatchRows = 16 });
        var rows = h.NewRows(40);
        var (task, scores) = h.Submit(rows);
        await h.SettleAsync();
        Assert.Equal([16, 16], h.Batches.Select(b => b.Rows));

        h.Time.Advance(h.Options.MaxWait);
        await BatcherHarness.Bounded(task);

        Assert.Equal([16, 16, 8], h.Batches.Select(b => b.Rows));
        Assert.Equal(rows.Select(r => r.Id), h.Batches.SelectMany(b => b.Ids(BatcherHarness.Width)));
        Assert.Equal(rows.Select(BatcherHarness.ExpectedScore), scores);
    }

    [Fact]
    public async Task The_last_rows_of_a_request_at_the_close_at_once_size_do_not_wait()
    {
        await using var h = new BatcherHarness(o => o with { MaxBatchRows = 16, CloseAtOnceRequestRows = 40 });
        var rows = h.NewRows(40);
        var (task, scores) = h.Submit(rows);

        // The clock never moves: the tail closes without the wait.
        await BatcherHarness.Bounded(task);

        Assert.Equal([16, 16, 8], h.Batches.Select(b => b.Rows));
        Assert.Equal(rows.Select(r => r.Id), h.Batches.SelectMany(b => b.Ids(BatcherHarness.Width)));
        Assert.Equal(rows.Select(BatcherHarness.ExpectedScore), scores);
    }

    [Fact]
    public async Task A_request_at_the_close_at_once_size_that_fits_one_batch_does_not_wait_and_takes_queued_rows_along()
    {
        await using var h = new BatcherHarness(o => o with { MaxBatchRows = 64, CloseAtOnceRequestRows = 10 });
        var small = h.NewRows(3);
        var large = h.NewRows(12);
        var (smallTask, smallScores) = h.Submit(small);
        var (largeTask, largeScores) = h.Submit(large);

        // The clock never moves: the large request closes the batch, and the small one queued before it rides along.
        await BatcherHarness.Bounded(Task.WhenAll(smallTask, largeTask));

        Assert.Equal(16, Assert.Single(h.Batches).Rows);
        Assert.Equal(small.Select(BatcherHarness.ExpectedScore), smallScores);
        Assert.Equal(large.Select(BatcherHarness.ExpectedScore), largeScores);
    }

    [Fact]
    public async Task A_request_below_the_close_at_once_size_still_waits()
    {
        await using var h = new BatcherHarness(o => o with { MaxBatchRows = 16, CloseAtOnceRequestRows = 5 });
        var (task, _) = h.Submit(h.NewRows(4));
        await h.SettleAsync();
        Assert.Empty(h.Batches);
        Assert.False(task.IsCompleted);

        h.Time.Advance(h.Options.MaxWait);
        await BatcherHarness.Bounded(task);

        Assert.Equal(4, Assert.Single(h.Batches).Rows);
    }

    [Fact]
    public async Task Rows_of_several_requests_share_a_batch_and_get_their_own_scores_back()
    {
        await using var h = new BatcherHarness();
        var requests = new[] { 3, 1, 7, 2 }.Select(n => h.NewRows(n)).ToArray();
        var submitted = requests.Select(rows => h.Submit(rows)).ToArray();
        await h.SettleAsync();
        h.Time.Advance(h.Options.MaxWait);
        await BatcherHarness.Bounded(Task.WhenAll(submitted.Select(s => s.Task)));

        Assert.Equal(16, Assert.Single(h.Batches).Rows);
        for (var i = 0; i < requests.Length; i++)
        {
            Assert.Equal(requests[i].Select(BatcherHarness.ExpectedScore), submitted[i].Scores);
        }
    }

    [Fact]
    public async Task Empty_request_completes_without_a_batch()
    {
        await using var h = new BatcherHarness();
        await h.Batcher.ScoreAsync(ReadOnlyMemory<TestRow>.Empty, Memory<float>.Empty);
        await h.SettleAsync();
        Assert.Empty(h.Batches);
    }

    [Fact]
    public async Task Two_workers_score_concurrent_requests_correctly_on_the_real_clock()
    {
        await using var h = new BatcherHarness(o => o with { WorkerCount = 2, AdaptationEnabled = true, AdaptationMinSamples = 1 }, TimeProvider.System);
        var random = new Random(7);
        var requests = Enumerable.Range(0, 300).Select(_ => h.NewRows(random.Next(1, 150))).ToArray();
        var results = await Task.WhenAll(requests.Select(rows => Task.Run(async () =>
        {
            var scores = new float[rows.Length];
            await h.Batcher.ScoreAsync(rows, scores);
            return scores;
        })));

        for (var i = 0; i < requests.Length; i++)
        {
            Assert.Equal(requests[i].Select(BatcherHarness.ExpectedScore), results[i]);
        }

        Assert.Equal(requests.Sum(r => r.Length), h.Batches.Sum(b => b.Ids(BatcherHarness.Width).Count()));
        Assert.All(h.Batches, b => Assert.InRange(b.Rows, 1, 128));
    }
}
