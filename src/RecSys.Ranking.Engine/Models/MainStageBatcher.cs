using System.Diagnostics.Metrics;
using RecSys.Batching;

namespace RecSys.Ranking.Models;

/// <summary>One candidate row of a request waiting for the main stage: where its features lie in the request's buffer.</summary>
public readonly record struct MainStageRow(float[] Features, int Offset);

/// <summary>
/// The main stage's session behind a <see cref="DynamicBatcher{TRow}"/>: rows of concurrent requests share runs. A full
/// queue throws <see cref="BatchQueueFullException"/> (429 with Retry-After at the API); cancelling a request takes its
/// rows out before they are scored.
/// </summary>
public sealed class MainStageBatcher : IAsyncDisposable
{
    private readonly DynamicBatcher<MainStageRow> _batcher;
    private readonly int _width;

    public MainStageBatcher(RankerModel model, DynamicBatchingOptions options, TimeProvider timeProvider, ILogger logger, IMeterFactory? meterFactory, Action<int>? onBatch = null)
        : this(options, ScoreWith(model, onBatch), timeProvider, logger, meterFactory)
    {
    }

    /// <summary>Over any scorer (tests hold the scorer to fill the queue).</summary>
    internal MainStageBatcher(DynamicBatchingOptions options, BatchScorer scorer, TimeProvider timeProvider, ILogger logger, IMeterFactory? meterFactory)
    {
        ArgumentNullException.ThrowIfNull(options);
        _width = options.FeatureWidth;
        _batcher = new DynamicBatcher<MainStageRow>(options, Assemble, scorer, timeProvider, logger, meterFactory);
    }

    public int QueuedRows => _batcher.QueuedRows;

    /// <summary>
    /// Scores <paramref name="count"/> rows laid out back to back in <paramref name="features"/> (the batcher's width each)
    /// into <paramref name="scores"/>.
    /// </summary>
    public async ValueTask ScoreAsync(float[] features, int count, Memory<float> scores, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (features.Length < count * _width)
        {
            throw new ArgumentException($"{count} rows of {_width} features need {count * _width} floats; the buffer has {features.Length}.", nameof(features));
        }

        // Not pooled: after a cancellation the batcher answers at once but a sealed batch may still be assembling from these rows.
        var rows = new MainStageRow[count];
        for (var i = 0; i < count; i++)
        {
            rows[i] = new MainStageRow(features, i * _width);
        }

        await _batcher.ScoreAsync(rows, scores, cancellationToken).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => _batcher.DisposeAsync();

    private static BatchScorer ScoreWith(RankerModel model, Action<int>? onBatch)
    {
        ArgumentNullException.ThrowIfNull(model);
        return (features, rows, width, scores, _) =>
        {
            model.Score(features.Span[..(rows * width)], scores.Span[..rows]);
            onBatch?.Invoke(rows);
            return ValueTask.CompletedTask;
        };
    }

    private static void Assemble(ReadOnlySpan<MainStageRow> rows, Span<float> destination)
    {
        var width = destination.Length / rows.Length;
        for (var i = 0; i < rows.Length; i++)
        {
            rows[i].Features.AsSpan(rows[i].Offset, width).CopyTo(destination.Slice(i * width, width));
        }
    }
}
