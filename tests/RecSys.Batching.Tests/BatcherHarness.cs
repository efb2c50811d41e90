using Microsoft.Extensions.Time.Testing;

namespace RecSys.Batching.Tests;

/// <summary>A candidate as tests see it: its id becomes feature 0, its weight feature 1.</summary>
public readonly record struct TestRow(int Id, float Weight);

/// <summary>What the scorer was handed: the padded row count, a copy of the matrix and the ids of the real rows.</summary>
public sealed record ScoredBatch(int Rows, float[] Features)
{
    public IEnumerable<int> Ids(int width) =>
        Enumerable.Range(0, Rows).Select(r => (int)Features[r * width]).Where(id => id != 0);
}

/// <summary>
/// A batcher on a fake clock with a scorer that records its batches and scores a row as id + weight / 2 (padding rows,
/// all zeros, score 0). Ids start at 1 so a padding row is recognisable.
/// </summary>
public sealed class BatcherHarness : IAsyncDisposable
{
    public const int Width = 2;
    private static readonly TimeSpan SafetyTimeout = TimeSpan.FromSeconds(20);
    private readonly List<ScoredBatch> _batches = [];
    private int _nextId = 1;

    public BatcherHarness(Func<DynamicBatchingOptions, DynamicBatchingOptions>? configure = null, TimeProvider? timeProvider = null)
    {
        var options = new DynamicBatchingOptions { FeatureWidth = Width, AdaptationEnabled = false };
        Options = configure?.Invoke(options) ?? options;
        TimeProvider = timeProvider ?? Time;
        Batcher = new DynamicBatcher<TestRow>(Options, Assemble, ScoreAsync, TimeProvider);
    }

    public FakeTimeProvider Time { get; } = new();

    public TimeProvider TimeProvider { get; }

    public DynamicBatchingOptions Options { get; }

    public DynamicBatcher<TestRow> Batcher { get; }

    /// <summary>Runs inside the scorer before it writes scores (block, throw, advance the clock).</summary>
    public Func<ScoredBatch, CancellationToken, ValueTask>? OnScore { get; set; }

    public Action<TestRow>? OnAssemble { get; set; }

    public IReadOnlyList<ScoredBatch> Batches
    {
        get
        {
            lock (_batches)
            {
                return [.. _batches];
            }
        }
    }

    public TestRow[] NewRows(int count) => Enumerable.Range(0, count).Select(_ => new TestRow(_nextId++, 1f)).ToArray();

    public static float ExpectedScore(TestRow row) => row.Id + (row.Weight / 2);

    /// <summary>Submits rows; returns the task as a Task and the score buffer (NaN until written).</summary>
    public (Task Task, float[] Scores) Submit(TestRow[] rows, CancellationToken cancellationToken = default)
    {
        var scores = Enumerable.Repeat(float.NaN, rows.Length).ToArray();
        return (Batcher.ScoreAsync(rows, scores, cancellationToken).AsTask(), scores);
    }

    /// <summary>Waits (real time, bounded) until every worker is parked and nothing is queued: the batcher is quiescent.</summary>
    public async Task SettleAsync()
    {
        var start = DateTime.UtcNow;
        while (Batcher.ParkedWorkers != Batcher.WorkerCount || Batcher.QueuedRows != 0)
        {
            if (DateTime.UtcNow - start > SafetyTimeout)
            {
                throw new TimeoutException($"Batcher did not settle: {Batcher.ParkedWorkers} parked, {Batcher.QueuedRows} rows queued.");
            }

            await Task.Delay(1);
        }
    }

    /// <summary>Waits (real time, bounded) until the scorer has been entered <paramref name="count"/> times.</summary>
    public async Task WaitForBatchesAsync(int count)
    {
        var start = DateTime.UtcNow;
        while (Batches.Count < count)
        {
            if (DateTime.UtcNow - start > SafetyTimeout)
            {
                throw new TimeoutException($"Only {Batches.Count} of {count} batches reached the scorer.");
            }

            await Task.Delay(1);
        }
    }

    public static Task Bounded(Task task) => task.WaitAsync(SafetyTimeout);

    public ValueTask DisposeAsync() => Batcher.DisposeAsync();

    private void Assemble(ReadOnlySpan<TestRow> rows, Span<float> destination)
    {
        for (var i = 0; i < rows.Length; i++)
        {
            OnAssemble?.Invoke(rows[i]);
            destination[i * Width] = rows[i].Id;
            destination[(i * Width) + 1] = rows[i].Weight;
        }
    }

    private async ValueTask ScoreAsync(ReadOnlyMemory<float> features, int rows, int width, Memory<float> scores, CancellationToken cancellationToken)
    {
        Assert.Equal(Width, width);
        Assert.Equal(rows * width, features.Length);
        Assert.Equal(rows, scores.Length);
        var batch = new ScoredBatch(rows, features.ToArray());
        lock (_batches)
        {
            _batches.Add(batch);
        }

        if (OnScore is { } hook)
        {
            await hook(batch, cancellationToken);
        }

        var matrix = features.Span;
        var output = scores.Span;
        for (var r = 0; r < rows; r++)
        {
            output[r] = matrix[r * width] + (matrix[(r * width) + 1] / 2);
        }
    }
}
