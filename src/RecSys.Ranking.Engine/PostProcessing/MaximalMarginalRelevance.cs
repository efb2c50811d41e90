using System.Buffers;
using System.Numerics.Tensors;

namespace RecSys.Ranking.PostProcessing;

/// <summary>
/// Caps on the items <see cref="MaximalMarginalRelevance.Select"/> may choose. Creators and categories are dense group
/// numbers (0, 1, ...); an item's categories are <c>Categories[CategoryStarts[i]..CategoryStarts[i + 1]]</c>. A cap of 0 is none.
/// </summary>
/// <param name="creators">Creator group per item, -1 when the item has none.</param>
public readonly ref struct MmrCaps(ReadOnlySpan<int> creators, int maxPerCreator, ReadOnlySpan<int> categoryStarts, ReadOnlySpan<int> categories, int maxPerCategory)
{
    public ReadOnlySpan<int> Creators { get; } = creators;

    public int MaxPerCreator { get; } = maxPerCreator;

    public ReadOnlySpan<int> CategoryStarts { get; } = categoryStarts;

    public ReadOnlySpan<int> Categories { get; } = categories;

    public int MaxPerCategory { get; } = maxPerCategory;
}

/// <summary>How many items were chosen, and how many were passed over for good because a cap was full.</summary>
public readonly record struct MmrOutcome(int Selected, int PassedOverByCaps);

/// <summary>
/// Maximal marginal relevance: repeatedly choose the item maximizing <c>lambda * relevance - (1 - lambda) * maxSim</c>, where
/// maxSim is its largest cosine similarity to the items already chosen (0 before any is). Embeddings are normalized once
/// and each item's maxSim is updated with the latest choice only, so choosing k of n costs O(k n d) with vectorized dot
/// products, not the O(k^2 n d) of recomputing the maximum every round. Ties go to the more relevant, then the earlier item.
/// </summary>
public static class MaximalMarginalRelevance
{
    /// <summary>
    /// Fills <paramref name="selected"/> (as far as the items and caps allow) with item indices in choice order.
    /// <paramref name="embeddings"/> holds one row of <paramref name="dimension"/> floats per item, unnormalized; a zero row (an
    /// item without embedding) is dissimilar to everything. <paramref name="preselected"/> items (pinned ones) are never chosen
    /// but count as chosen for similarity and caps.
    /// </summary>
    public static MmrOutcome Select(ReadOnlySpan<double> relevance, ReadOnlySpan<float> embeddings, int dimension, double lambda,
        Span<int> selected, scoped MmrCaps caps = default, ReadOnlySpan<int> preselected = default)
    {
        var n = relevance.Length;
        Validate(relevance, embeddings, dimension, lambda, caps, preselected);
        var useSimilarity = dimension > 0 && lambda < 1;
        var unitRented = useSimilarity ? ArrayPool<float>.Shared.Rent(n * dimension) : null;
        var activeRented = ArrayPool<int>.Shared.Rent(Math.Max(1, n));
        var maxSimRented = ArrayPool<float>.Shared.Rent(Math.Max(1, n));
        var creatorCounts = RentCounts(caps.MaxPerCreator > 0 ? caps.Creators : default);
        var categoryCounts = RentCounts(caps.MaxPerCategory > 0 ? caps.Categories : default);
        try
        {
            var unit = useSimilarity ? unitRented.AsSpan(0, n * dimension) : default;
            if (useSimilarity)
            {
                Normalize(embeddings, unit, n, dimension);
            }

            var maxSim = maxSimRented.AsSpan(0, n);
            maxSim.Fill(float.NegativeInfinity);
            var active = activeRented.AsSpan(0, n);
            foreach (var seed in preselected)
            {
                Count(seed, caps, creatorCounts, categoryCounts);
                if (useSimilarity)
                {
                    UpdateAll(unit, dimension, seed, maxSim);
                }
            }

            var activeCount = 0;
            for (var i = 0; i < n; i++)
            {
                if (!preselected.Contains(i))
                {
                    active[activeCount++] = i;
                }
            }

            int picked = 0, passedOver = 0, last = -1;
            while (picked < selected.Length && activeCount > 0)
            {
                int best = -1, bestSlot = -1;
                var bestScore = double.NegativeInfinity;
                var lastRow = useSimilarity && last >= 0 ? unit.Slice(last * dimension, dimension) : default;
                for (var k = 0; k < activeCount; k++)
                {
                    var i = active[k];
                    if (IsCapped(i, caps, creatorCounts, categoryCounts))
                    {
                        // Counts only grow, so a capped item stays capped: drop it from the scan for good.
                        active[k--] = active[--activeCount];
                        passedOver++;
                        continue;
                    }

                    if (!lastRow.IsEmpty)
                    {
                        var similarity = TensorPrimitives.Dot(unit.Slice(i * dimension, dimension), lastRow);
                        if (similarity > maxSim[i])
                        {
                            maxSim[i] = similarity;
                        }
                    }

                    var penalty = float.IsNegativeInfinity(maxSim[i]) ? 0 : maxSim[i];
                    var score = (lambda * relevance[i]) - ((1 - lambda) * penalty);
                    if (best < 0 || score > bestScore
                        || (score == bestScore && (relevance[i] > relevance[best] || (relevance[i] == relevance[best] && i < best))))
                    {
                        best = i;
                        bestSlot = k;
                        bestScore = score;
                    }
                }

                if (best < 0)
                {
                    break;
                }

                selected[picked++] = best;
                active[bestSlot] = active[--activeCount];
                Count(best, caps, creatorCounts, categoryCounts);
                last = best;
            }

            return new MmrOutcome(picked, passedOver);
        }
        finally
        {
            if (unitRented is not null)
            {
                ArrayPool<float>.Shared.Return(unitRented);
            }

            ArrayPool<int>.Shared.Return(activeRented);
            ArrayPool<float>.Shared.Return(maxSimRented);
            ArrayPool<int>.Shared.Return(creatorCounts);
            ArrayPool<int>.Shared.Return(categoryCounts);
        }
    }

    private static void Validate(ReadOnlySpan<double> relevance, ReadOnlySpan<float> embeddings, int dimension, double lambda,
        scoped MmrCaps caps, ReadOnlySpan<int> preselected)
    {
        var n = relevance.Length;
        ArgumentOutOfRangeException.ThrowIfNegative(dimension);
        if (!(lambda is >= 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(lambda), lambda, "Lambda must lie in [0, 1].");
        }

        if ((long)n * dimension != embeddings.Length)
        {
            throw new ArgumentException($"{n} items of dimension {dimension} need {(long)n * dimension} embedding values, not {embeddings.Length}.", nameof(embeddings));
        }

        foreach (var value in relevance)
        {
            if (!double.IsFinite(value))
            {
                throw new ArgumentException("A relevance is not finite.", nameof(relevance));
            }
        }

        if (caps.MaxPerCreator > 0 && (caps.Creators.Length != n || caps.Creators.ContainsAnyExceptInRange(-1, int.MaxValue)))
        {
            throw new ArgumentException($"The creator cap needs one creator group (>= 0, or -1 for none) per item ({n}).", nameof(caps));
        }

        if (caps.MaxPerCategory > 0)
        {
            var starts = caps.CategoryStarts;
            if (starts.Length != n + 1 || starts[0] != 0 || starts[n] != caps.Categories.Length || caps.Categories.ContainsAnyExceptInRange(0, int.MaxValue))
            {
                throw new ArgumentException("The category cap needs n + 1 category starts from 0 to the number of category entries, and groups >= 0.", nameof(caps));
            }

            for (var i = 0; i < n; i++)
            {
                if (starts[i + 1] < starts[i])
                {
                    throw new ArgumentException($"Category starts decrease at item {i}.", nameof(caps));
                }
            }
        }

        foreach (var seed in preselected)
        {
            if ((uint)seed >= (uint)n)
            {
                throw new ArgumentOutOfRangeException(nameof(preselected), $"Preselected item {seed} is outside the {n} items.");
            }
        }
    }

    private static void Normalize(ReadOnlySpan<float> embeddings, Span<float> unit, int n, int dimension)
    {
        for (var i = 0; i < n; i++)
        {
            var row = embeddings.Slice(i * dimension, dimension);
            var target = unit.Slice(i * dimension, dimension);
            var norm = TensorPrimitives.Norm(row);
            if (norm > 0 && float.IsFinite(norm))
            {
                TensorPrimitives.Divide(row, norm, target);
            }
            else
            {
                target.Clear();
            }
        }
    }

    private static void UpdateAll(ReadOnlySpan<float> unit, int dimension, int chosen, Span<float> maxSim)
    {
        var chosenRow = unit.Slice(chosen * dimension, dimension);
        for (var i = 0; i < maxSim.Length; i++)
        {
            var similarity = TensorPrimitives.Dot(unit.Slice(i * dimension, dimension), chosenRow);
            if (similarity > maxSim[i])
            {
                maxSim[i] = similarity;
            }
        }
    }

    private static int[] RentCounts(ReadOnlySpan<int> groups)
    {
        var size = 1;
        foreach (var group in groups)
        {
            size = Math.Max(size, group + 1);
        }

        var counts = ArrayPool<int>.Shared.Rent(size);
        counts.AsSpan(0, size).Clear();
        return counts;
    }

    private static bool IsCapped(int item, scoped MmrCaps caps, int[] creatorCounts, int[] categoryCounts)
    {
        if (caps.MaxPerCreator > 0 && caps.Creators[item] >= 0 && creatorCounts[caps.Creators[item]] >= caps.MaxPerCreator)
        {
            return true;
        }

        if (caps.MaxPerCategory > 0)
        {
            for (var c = caps.CategoryStarts[item]; c < caps.CategoryStarts[item + 1]; c++)
            {
                if (categoryCounts[caps.Categories[c]] >= caps.MaxPerCategory)
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static void Count(int item, scoped MmrCaps caps, int[] creatorCounts, int[] categoryCounts)
    {
        if (caps.MaxPerCreator > 0 && caps.Creators[item] >= 0)
        {
            creatorCounts[caps.Creators[item]]++;
        }

        if (caps.MaxPerCategory > 0)
        {
            for (var c = caps.CategoryStarts[item]; c < caps.CategoryStarts[item + 1]; c++)
            {
                categoryCounts[caps.Categories[c]]++;
            }
        }
    }
}
