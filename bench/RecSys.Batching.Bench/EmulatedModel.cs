using System.Diagnostics;

namespace RecSys.Batching.Bench;

/// <summary>A candidate to score: an index into the item feature table.</summary>
public readonly record struct Candidate(int Item);

/// <summary>
/// What the load run scores with: an item feature table (random values; the cost of a model does not depend on them) that
/// requests index into, and a session-like scorer over row-major feature rows.
/// </summary>
public abstract class BenchModel
{
    private readonly float[] _itemFeatures;

    protected BenchModel(int items, int width, int seed)
    {
        Width = width;
        Items = items;
        var random = new Random(seed);
        _itemFeatures = new float[items * width];
        for (var i = 0; i < _itemFeatures.Length; i++)
        {
            _itemFeatures[i] = (float)random.NextDouble();
        }
    }

    /// <summary>How the model is described in the output.</summary>
    public abstract string Description { get; }

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

    public abstract void Score(ReadOnlySpan<float> features, int rows, Span<float> scores);

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

/// <summary>
/// Stands in for an inference session: each call costs a fixed overhead plus a cost per row (padding rows included), burnt
/// on the CPU as a session would, and writes a real linear score per row so the work cannot be skipped.
/// </summary>
public sealed class EmulatedModel : BenchModel
{
    private readonly float[] _weights;
    private readonly long _callTicks;
    private readonly double _rowTicks;
    private readonly TimeSpan _perCall;
    private readonly TimeSpan _perRow;

    public EmulatedModel(int items, int width, TimeSpan perCall, TimeSpan perRow, int seed = 11)
        : base(items, width, seed)
    {
        var random = new Random(seed + 1);
        _weights = Enumerable.Range(0, width).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        _callTicks = (long)(perCall.TotalSeconds * Stopwatch.Frequency);
        _rowTicks = perRow.TotalSeconds * Stopwatch.Frequency;
        _perCall = perCall;
        _perRow = perRow;
    }

    public override string Description =>
        $"emulated, {Width} features, {_perCall.TotalMicroseconds:F0} us per call + {_perRow.TotalMicroseconds:F1} us per row";

    public override void Score(ReadOnlySpan<float> features, int rows, Span<float> scores)
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
}
