using Microsoft.Extensions.Logging.Abstractions;
using RecSys.Batching;
using RecSys.Ranking.Models;
using RecSys.Ranking.Serving;

namespace RecSys.Ranking.Tests.Models;

public sealed class MainStageBatcherTests
{
    private const int Width = 3;

    private static MainStageBatchingOptions Small => new()
    {
        MaxBatchRows = 16,
        MinAdaptiveBatchRows = 16,
        MaxAdaptiveBatchRows = 16,
        QueueCapacityRows = 32,
        AdaptationEnabled = false,
    };

    [Fact]
    public async Task Each_of_concurrent_requests_gets_the_scores_of_its_own_rows()
    {
        await using var batcher = new MainStageBatcher(Small.ToBatcherOptions(Width), (features, rows, width, scores, _) =>
        {
            // Score = the first feature, so each request can check it got its own rows back.
            for (var r = 0; r < rows; r++)
            {
                scores.Span[r] = features.Span[r * width];
            }

            return ValueTask.CompletedTask;
        }, TimeProvider.System, NullLogger.Instance, null);

        var requests = Enumerable.Range(0, 6).Select(async q =>
        {
            var features = new float[5 * Width];
            for (var r = 0; r < 5; r++)
            {
                features[r * Width] = (q * 100) + r;
            }

            var scores = new float[5];
            await batcher.ScoreAsync(features, 5, scores, CancellationToken.None);
            return (q, scores);
        }).ToArray();

        foreach (var (q, scores) in await Task.WhenAll(requests))
        {
            Assert.Equal(Enumerable.Range(0, 5).Select(r => (float)((q * 100) + r)), scores);
        }
    }

    [Fact]
    public async Task A_full_queue_is_refused_with_a_retry_delay_and_a_cancelled_request_never_reaches_the_model()
    {
        using var gate = new SemaphoreSlim(0);
        var scored = 0;
        await using var batcher = new MainStageBatcher(Small.ToBatcherOptions(Width), async (features, rows, width, scores, ct) =>
        {
            // Holds the worker on its first batch, so that later rows wait in the queue.
            await gate.WaitAsync(ct);
            Interlocked.Add(ref scored, rows);
        }, TimeProvider.System, NullLogger.Instance, null);

        var busy = batcher.ScoreAsync(new float[16 * Width], 16, new float[16], CancellationToken.None).AsTask();
        await Until(() => batcher.QueuedRows == 0);
        using var cancel = new CancellationTokenSource();
        var cancelled = batcher.ScoreAsync(new float[16 * Width], 16, new float[16], cancel.Token).AsTask();
        var queued = batcher.ScoreAsync(new float[16 * Width], 16, new float[16], CancellationToken.None).AsTask();

        var full = await Assert.ThrowsAsync<BatchQueueFullException>(() => batcher.ScoreAsync(new float[Width], 1, new float[1], CancellationToken.None).AsTask());
        Assert.True(full.RetryAfter > TimeSpan.Zero);
        Assert.Equal(32, full.CapacityRows);

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        gate.Release(3);
        await busy;
        await queued;

        Assert.Equal(32, Volatile.Read(ref scored));
    }

    [Fact]
    public void Options_that_cannot_hold_one_request_stop_the_service_at_start()
    {
        var options = new RankingModelOptions { PreRankKeep = 500, Batching = { QueueCapacityRows = 400 } };

        var result = new RankingModelOptionsRelations().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains("QueueCapacityRows", result.FailureMessage, StringComparison.Ordinal);
    }

    private static async Task Until(Func<bool> condition)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            await Task.Delay(5, limit.Token);
        }
    }
}
