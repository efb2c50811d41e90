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
            var row = rows.Slice(r * Width, Width);
            var item = candidates[r] ?? EntityValues.Empty;
            for (var c = 0; c < _features.Length; c++)
            {
                var feature = _features[c];
                if (feature.Compute(side, item) is { } value && float.IsFinite(value))
                {
                    row[c] = value;
                }
                else
                {
                    row[c] = feature.Default;
                    defaulted++;
                }
            }
        }

        return defaulted;
    }
}
