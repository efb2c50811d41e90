namespace RecSys.Learning.Ranking;

/// <summary>The calibration segment of a row: the request context and the user's activity bucket.</summary>
public readonly record struct SegmentKey(int Context, int ActivityBucket)
{
    public override string ToString() => $"c{Context}-a{ActivityBucket}";
}

/// <summary>
/// Rows to rank: a row-major dense feature matrix with named columns, a label (relevance, 0/1 for clicks), a sample
/// weight, the group (a request: its rows are ranked together; rows of one group are contiguous) and the segment keys
/// that calibration is fitted per. Immutable once built; <see cref="Validate"/> runs in the constructor.
/// </summary>
public sealed class RankingDataset
{
    private readonly int[] _groupStarts;

    public RankingDataset(IReadOnlyList<string> featureNames, float[] features, float[] labels, float[] weights, int[] groupIds,
        SegmentKey[] segments)
    {
        ArgumentNullException.ThrowIfNull(featureNames);
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(groupIds);
        ArgumentNullException.ThrowIfNull(segments);
        FeatureNames = [.. featureNames];
        Features = features;
        Labels = labels;
        Weights = weights;
        GroupIds = groupIds;
        Segments = segments;
        _groupStarts = Validate();
    }

    public IReadOnlyList<string> FeatureNames { get; }

    public int FeatureCount => FeatureNames.Count;

    public int RowCount => Labels.Length;

    /// <summary>Row-major, <see cref="RowCount"/> x <see cref="FeatureCount"/>.</summary>
    public float[] Features { get; }

    public float[] Labels { get; }

    public float[] Weights { get; }

    public int[] GroupIds { get; }

    public SegmentKey[] Segments { get; }

    public int GroupCount => _groupStarts.Length - 1;

    /// <summary>Rows [start, end) of the g-th group in row order.</summary>
    public (int Start, int End) Group(int g) => (_groupStarts[g], _groupStarts[g + 1]);

    /// <summary>Group sizes in row order (LightGBM's "group" field).</summary>
    public int[] GroupSizes()
    {
        var sizes = new int[GroupCount];
        for (var g = 0; g < sizes.Length; g++)
        {
            sizes[g] = _groupStarts[g + 1] - _groupStarts[g];
        }

        return sizes;
    }

    public ReadOnlySpan<float> Row(int row) => Features.AsSpan(row * FeatureCount, FeatureCount);

    /// <summary>A dataset with only the named columns, in the order given (the pre-ranker's cheap features).</summary>
    public RankingDataset SelectFeatures(IReadOnlyList<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        var index = new int[names.Count];
        for (var j = 0; j < names.Count; j++)
        {
            index[j] = FeatureNames.ToList().IndexOf(names[j]);
            if (index[j] < 0)
            {
                throw new ArgumentException($"Feature '{names[j]}' is not in the dataset.", nameof(names));
            }
        }

        var selected = new float[RowCount * names.Count];
        for (var r = 0; r < RowCount; r++)
        {
            var source = Row(r);
            for (var j = 0; j < index.Length; j++)
            {
                selected[(r * names.Count) + j] = source[index[j]];
            }
        }

        return new RankingDataset(names, selected, Labels, Weights, GroupIds, Segments);
    }

    /// <summary>Groups [firstGroup, firstGroup + count) as a new dataset (whole groups, so no request is split).</summary>
    public RankingDataset SliceGroups(int firstGroup, int count)
    {
        if (firstGroup < 0 || count < 1 || firstGroup + count > GroupCount)
        {
            throw new ArgumentOutOfRangeException(nameof(count), $"Groups [{firstGroup}, {firstGroup + count}) are outside [0, {GroupCount}).");
        }

        var start = _groupStarts[firstGroup];
        var end = _groupStarts[firstGroup + count];
        var f = FeatureCount;
        return new RankingDataset(FeatureNames, Features[(start * f)..(end * f)], Labels[start..end], Weights[start..end],
            GroupIds[start..end], Segments[start..end]);
    }

    /// <summary>Splits by whole groups: the first fractions of groups in order (the generator's groups are already shuffled).</summary>
    public IReadOnlyList<RankingDataset> SplitGroups(params double[] fractions)
    {
        ArgumentNullException.ThrowIfNull(fractions);
        if (fractions.Length == 0 || fractions.Any(x => !(x > 0)) || Math.Abs(fractions.Sum() - 1) > 1e-9)
        {
            throw new ArgumentException("Fractions must be positive and sum to 1.", nameof(fractions));
        }

        var parts = new List<RankingDataset>();
        var first = 0;
        for (var p = 0; p < fractions.Length; p++)
        {
            var count = p == fractions.Length - 1 ? GroupCount - first : (int)Math.Round(fractions[p] * GroupCount);
            parts.Add(SliceGroups(first, count));
            first += count;
        }

        return parts;
    }

    private int[] Validate()
    {
        var n = Labels.Length;
        if (FeatureNames.Count == 0)
        {
            throw new ArgumentException("A dataset needs at least one feature.");
        }

        if (FeatureNames.Distinct(StringComparer.Ordinal).Count() != FeatureNames.Count || FeatureNames.Any(string.IsNullOrWhiteSpace))
        {
            throw new ArgumentException("Feature names must be non-empty and unique.");
        }

        if (n == 0)
        {
            throw new ArgumentException("A dataset needs at least one row.");
        }

        if (Features.Length != (long)n * FeatureCount || Weights.Length != n || GroupIds.Length != n || Segments.Length != n)
        {
            throw new ArgumentException(
                $"Column lengths disagree: {n} labels, {Weights.Length} weights, {GroupIds.Length} group ids, {Segments.Length} segments, "
                + $"{Features.Length} feature values for {FeatureCount} features.");
        }

        for (var i = 0; i < Features.Length; i++)
        {
            if (!float.IsFinite(Features[i]))
            {
                throw new ArgumentException($"Feature '{FeatureNames[i % FeatureCount]}' of row {i / FeatureCount} is not finite.");
            }
        }

        var starts = new List<int> { 0 };
        var seen = new HashSet<int> { GroupIds[0] };
        for (var r = 0; r < n; r++)
        {
            if (!float.IsFinite(Labels[r]) || Labels[r] < 0 || !float.IsFinite(Weights[r]) || Weights[r] < 0)
            {
                throw new ArgumentException($"Row {r}: label and weight must be finite and >= 0 (got {Labels[r]}, {Weights[r]}).");
            }

            if (r > 0 && GroupIds[r] != GroupIds[r - 1])
            {
                if (!seen.Add(GroupIds[r]))
                {
                    throw new ArgumentException($"Rows of group {GroupIds[r]} are not contiguous (seen again at row {r}).");
                }

                starts.Add(r);
            }
        }

        starts.Add(n);
        return [.. starts];
    }
}
