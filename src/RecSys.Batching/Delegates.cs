namespace RecSys.Batching;

/// <summary>
/// Scores a row-major feature matrix of <paramref name="rows"/> x <paramref name="width"/> floats, writing one score per row.
/// The batcher owns both buffers and reuses them for its next batch: do not keep them after the returned task completes.
/// Each worker hands over the same arrays every time (of a few power-of-two shapes when padding is on), so a session may
/// cache tensors bound to them.
/// </summary>
public delegate ValueTask BatchScorer(ReadOnlyMemory<float> features, int rows, int width, Memory<float> scores, CancellationToken cancellationToken);

/// <summary>
/// Writes the features of <paramref name="rows"/> into <paramref name="destination"/>, row after row,
/// <c>destination.Length / rows.Length</c> floats each.
/// </summary>
public delegate void FeatureAssembler<TRow>(ReadOnlySpan<TRow> rows, Span<float> destination);

/// <summary>Why a batch stopped taking rows.</summary>
internal enum BatchCloseReason
{
    Full,
    Deadline,
    EarlyTrigger,
    Drain,
    LargeRequest,
}
