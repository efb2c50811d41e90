using System.Buffers;

namespace RecSys.Ranking.Features;

/// <summary>A candidate as Retrieval hands it to ranking: its fused retrieval score and the sources that found it.</summary>
public sealed record RankingCandidate(string ItemId, double RetrievalScore, IReadOnlyList<string> Sources)
{
    /// <summary>
    /// <see cref="ItemFeatureSnapshot.Stamp"/> of the item table snapshot the id was found in while decoding (0: not looked
    /// up), and the item's number there: the provider skips its own lookup when it serves from that snapshot. A shortcut,
    /// not part of the candidate: equality ignores both.
    /// </summary>
    internal int TableStamp { get; init; }

    internal int TableNumber { get; init; }

    public bool Equals(RankingCandidate? other) =>
        other is not null && string.Equals(ItemId, other.ItemId, StringComparison.Ordinal) && RetrievalScore.Equals(other.RetrievalScore)
        && EqualityComparer<IReadOnlyList<string>>.Default.Equals(Sources, other.Sources);

    public override int GetHashCode() => HashCode.Combine(ItemId, RetrievalScore, Sources);
}

/// <summary>Whom a ranking request is for, in which context, and when (the time features are computed at).</summary>
public sealed record RankingQuery(string UserId, string? Context, DateTimeOffset RequestTime)
{
    /// <summary>
    /// How many leading columns every candidate needs (the pre-ranker's); a provider may leave the others to
    /// <see cref="FeatureMatrix.CompleteRows"/>, called for the rows that go on to the main stage. All columns by default.
    /// </summary>
    public int EagerColumns { get; init; } = int.MaxValue;
}

/// <summary>
/// Features of a set of candidates, row-major (one row per candidate, one column per feature name, in the order a model's
/// manifest lists them), over a pooled buffer that <see cref="Dispose"/> returns.
/// </summary>
public sealed class FeatureMatrix : IDisposable
{
    private float[]? _buffer;
    private IDeferredColumns? _deferred;

    public FeatureMatrix(int rows, IReadOnlyList<string> columns)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentNullException.ThrowIfNull(columns);
        Rows = rows;
        Columns = columns;
        _buffer = ArrayPool<float>.Shared.Rent(Math.Max(1, rows * columns.Count));
        Values.Clear();
    }

    public int Rows { get; }

    public IReadOnlyList<string> Columns { get; }

    public int Width => Columns.Count;

    /// <summary>How many values were filled with a feature's default because the store had none (flagged in metrics).</summary>
    public int DefaultedValues { get; set; }

    /// <summary>The request's calibration segment (context and user-activity bucket), when the provider knows it.</summary>
    public RecSys.Learning.Ranking.SegmentKey? Segment { get; set; }

    /// <summary>
    /// A token that changes when the user-side feature values change (the score cache's feature-state version); null: the
    /// provider cannot say, and scores are not cached.
    /// </summary>
    public string? FeatureState { get; set; }

    /// <summary>All values, <see cref="Rows"/> x <see cref="Width"/>.</summary>
    public Span<float> Values => (_buffer ?? throw new ObjectDisposedException(nameof(FeatureMatrix))).AsSpan(0, Rows * Width);

    public Span<float> Row(int row) => Values.Slice(row * Width, Width);

    /// <summary>
    /// Computes the columns the provider deferred (beyond <see cref="RankingQuery.EagerColumns"/>) for <paramref name="rows"/>;
    /// nothing when none were deferred. Call it once, for the rows whose later columns are read.
    /// </summary>
    public void CompleteRows(ReadOnlySpan<int> rows)
    {
        ObjectDisposedException.ThrowIf(_buffer is null, this);
        if (_deferred is { } deferred)
        {
            DefaultedValues += deferred.Complete(this, rows);
        }
    }

    /// <summary>Hands the matrix what computes its deferred columns; it is disposed with the matrix.</summary>
    internal void Defer(IDeferredColumns deferred) => _deferred = deferred;

    public void Dispose()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            ArrayPool<float>.Shared.Return(buffer);
            _deferred?.Dispose();
            _deferred = null;
        }
    }
}

/// <summary>Computes the columns of a <see cref="FeatureMatrix"/> that its provider left for later.</summary>
internal interface IDeferredColumns : IDisposable
{
    /// <summary>Fills the deferred columns of <paramref name="rows"/>; returns how many values were defaulted.</summary>
    int Complete(FeatureMatrix matrix, ReadOnlySpan<int> rows);
}

/// <summary>
/// Assembles the features the active models use for a request's candidates. Feature names are those of the model manifests;
/// the same names mean the same computation in training (the Trainer's offline assembly) and here.
/// </summary>
public interface IRankingFeatureProvider
{
    /// <summary>Whether this provider can compute <paramref name="featureName"/> (checked when a model loads).</summary>
    bool Supports(string featureName);

    /// <summary>The features named by <paramref name="columns"/> for every candidate, in candidate order.</summary>
    ValueTask<FeatureMatrix> FetchAsync(RankingQuery query, IReadOnlyList<RankingCandidate> candidates, IReadOnlyList<string> columns, CancellationToken cancellationToken);
}
