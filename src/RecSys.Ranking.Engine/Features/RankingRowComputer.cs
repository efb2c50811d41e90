namespace RecSys.Ranking.Features;

/// <summary>
/// Computes feature rows from entity values through <see cref="RankingFeatureCatalog"/>: the single code path of both the
/// Trainer's offline assembly and the online provider.
/// </summary>
public sealed class RankingRowComputer
{
    private readonly RankingFeature[] _features;

    public RankingRowComputer(IReadOnlyList<string> columns)
    {
        _features = RankingFeatureCatalog.Resolve(columns);
        Columns = [.. columns];
    }

    public IReadOnlyList<string> Columns { get; }

    public int Width => _features.Length;

    /// <summary>Writes one row per candidate into <paramref name="rows"/> (row-major); returns how many values were defaulted.</summary>
    public int Compute(RankingRequestValues request, IReadOnlyList<EntityValues> candidates, Span<float> rows)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(candidates);
        if (rows.Length < candidates.Count * Width)
        {
            throw new ArgumentException($"The row buffer holds {rows.Length} values; {candidates.Count} x {Width} are needed.", nameof(rows));
        }

        var side = new RequestSide(request);
        var defaulted = 0;
        for (var r = 0; r < candidates.Count; r++)
        {
            defaulted += ComputeRow(side, candidates[r], rows.Slice(r * Width, Width), 0, Width);
        }

        return defaulted;
    }

    /// <summary>
    /// Writes columns [<paramref name="from"/>, <paramref name="to"/>) of one candidate's row; returns how many were defaulted.
    /// Allocates nothing: the request side is shared by every row.
    /// </summary>
    public int ComputeRow(RequestSide side, EntityValues? item, Span<float> row, int from, int to)
    {
        ArgumentNullException.ThrowIfNull(side);
        ArgumentOutOfRangeException.ThrowIfNegative(from);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(to, _features.Length);
        item ??= EntityValues.Empty;
        var defaulted = 0;
        for (var c = from; c < to; c++)
        {
            var feature = _features[c];
            var computed = feature.ItemSlot >= 0 && item.TryItemFeature(feature.ItemSlot, out var known) ? known : feature.Compute(side, item);
            if (computed is { } value && float.IsFinite(value))
            {
                row[c] = value;
            }
            else
            {
                row[c] = feature.Default;
                defaulted++;
            }
        }

        return defaulted;
    }
}
