using System.Diagnostics;

namespace RecSys.Batching.Bench;

/// <summary>A candidate to score: an index into the item feature table.</summary>
public readonly record struct Candidate(int Item);

/// <summary>
/// Stands in for an inference session: each call costs a fixed overhead plus a cost per row (padding rows included), burnt
/// on the CPU as a session would, and writes a real linear score per row so the work cannot be skipped.
/// </summary>
public sealed class EmulatedModel
{
    private readonly float[] _itemFeatures;
    private readonly float[] _weights;
    private readonly long _callTicks;
    private readonly double _rowTicks;

    public EmulatedModel(int items, int width, TimeSpan perCall, TimeSpan perRow, int seed = 11)
    {
        Width = width;
        var random = new Random(seed);
        _itemFeatures = new float[items * width];
        for (var i = 0; i < _itemFeatures.Length; i++)
        {
            _itemFeatures[i] = (float)random.NextDouble();
        }

        _weights = Enumerable.Range(0, width).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        _callTicks = (long)(perCall.TotalSeconds * Stopwatch.Frequency);
        _rowTicks = perRow.TotalSeconds * Stopwatch.Frequency;
        Items = items;
    }

    public int Width { get; }

    public int Items { get; }

    public void Assemble(ReadOnlySpan<Candidate> rows, Span<float> destination)
    {
        for (var i = 0; i < rows.Length; i++)
        {
            _itemFeatures.AsSpan(rows[i].Item * Width, Width).CopyTo(destination.Slice(i * Width, Width));
        }
    }

    public ValueTask ScoreAsync(ReadOnlyMemory<float> features, int rows, int width, Memory<float> scores, CancellationToken cancellationToken)
    {
        Score(features.Span, rows, scores.Span);
        return ValueTask.CompletedTask;
    }

    public void Score(ReadOnlySpan<float> features, int rows, Span<float> scores)
    {
        var end = Stopwatch.GetTimestamp() + _callTicks + (long)(_rowTicks * rows);
        for (var r = 0; r < rows; r++)
        {
            var row = features.Slice(r * Width, Width);
            var sum = 0f;
            for (var c = 0; c < row.Length; c++)
            {
                sum += row[c] * _weights[c];
            }

            scores[r] = sum;
        }

        while (Stopwatch.GetTimestamp() < end)
        {
            Thread.SpinWait(20);
        }
    }

    /// <summary>The peer: one session call per request, features assembled into a pooled buffer.</summary>
    public void ScoreDirect(ReadOnlySpan<Candidate> rows, Span<float> scores)
    {
        var buffer = System.Buffers.ArrayPool<float>.Shared.Rent(rows.Length * Width);
        try
        {
            Assemble(rows, buffer.AsSpan(0, rows.Length * Width));
            Score(buffer.AsSpan(0, rows.Length * Width), rows.Length, scores);
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(buffer);
        }
    }
}
