using System.Buffers;

namespace RecSys.Ranking.PostProcessing;

/// <summary>
/// Orders the unpinned candidates for the response: MMR over the item embeddings with the category and creator caps, the
/// pinned items counting as already chosen. Disabled, it is the score order.
/// </summary>
internal sealed class DiversityStage(DiversityOptions options) : IPostProcessingStage
{
    public const string Name = "diversity";

    public PostProcessingStageReport Apply(PostProcessingContext context)
    {
        var candidates = context.Candidates;
        var pinnedCount = candidates.Count(c => c.PinnedRank > 0);
        var wanted = Math.Max(0, context.Request.Count - pinnedCount);
        var scoreOrder = candidates.Where(c => c.PinnedRank == 0).ToList();
        scoreOrder.Sort(WorkingCandidate.ByScore);
        if (!options.Enabled)
        {
            context.Ordered = scoreOrder.Take(wanted).ToList();
            return new PostProcessingStageReport(Name, Note: "disabled");
        }

        var n = candidates.Count;
        var dimension = EmbeddingDimension(candidates);
        var relevance = new double[n];
        var embeddings = ArrayPool<float>.Shared.Rent(Math.Max(1, n * dimension));
        var creators = new int[n];
        var categoryStarts = new int[n + 1];
        var categories = new List<int>();
        var creatorGroups = new Dictionary<string, int>(StringComparer.Ordinal);
        var categoryGroups = new Dictionary<string, int>(StringComparer.Ordinal);
        var preselected = new List<int>(pinnedCount);
        try
        {
            var vectors = embeddings.AsSpan(0, n * dimension);

            // Relevance is the candidate's place in the score order, not the score itself: calibrated probabilities can tie
            // over whole isotonic steps (or a clamped tail), which would leave MMR choosing on similarity alone. The place is
            // scaled over a window of four times the items wanted (1 for the best, 0 from the window's end on), so lambda
            // trades relevance against similarity on one scale whatever the candidate count.
            var window = Math.Max(1, 4 * context.Request.Count);
            // Each candidate's place in the score order, by its position in the list (ByScore is a total order: the sort is unique).
            var place = new int[n];
            var ranked = new int[n];
            for (var i = 0; i < n; i++)
            {
                ranked[i] = i;
            }

            Array.Sort(ranked, (x, y) => WorkingCandidate.ByScore(candidates[x], candidates[y]));
            for (var r = 0; r < n; r++)
            {
                place[ranked[r]] = r;
            }

            for (var i = 0; i < n; i++)
            {
                var candidate = candidates[i];
                relevance[i] = Math.Max(0, 1.0 - ((double)place[i] / window));
                var row = vectors.Slice(i * dimension, dimension);
                if (candidate.Source.Embedding.IsEmpty)
                {
                    row.Clear();
                }
                else
                {
                    candidate.Source.Embedding.Span.CopyTo(row);
                }

                creators[i] = candidate.Metadata.Creator is { } creator ? Group(creatorGroups, creator) : -1;
                AddDistinctGroups(candidate.Metadata.Categories, categoryGroups, categories);

                categoryStarts[i + 1] = categories.Count;
                if (candidate.PinnedRank > 0)
                {
                    preselected.Add(i);
                }
            }

            var chosen = new int[Math.Min(wanted, n)];
            var caps = new MmrCaps(creators, options.MaxPerCreator, categoryStarts, [.. categories], options.MaxPerCategory);
            var outcome = MaximalMarginalRelevance.Select(relevance, vectors, dimension, options.Lambda, chosen, caps, [.. preselected]);
            var ordered = new List<WorkingCandidate>(outcome.Selected);
            var moved = 0;
            for (var k = 0; k < outcome.Selected; k++)
            {
                ordered.Add(candidates[chosen[k]]);
                if (k >= scoreOrder.Count || !ReferenceEquals(scoreOrder[k], ordered[k]))
                {
                    moved++;
                }
            }

            context.Ordered = ordered;
            return new PostProcessingStageReport(Name, Removed: outcome.PassedOverByCaps, Changed: moved);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(embeddings);
        }
    }

    private static int EmbeddingDimension(List<WorkingCandidate> candidates)
    {
        var dimension = 0;
        foreach (var candidate in candidates)
        {
            var length = candidate.Source.Embedding.Length;
            if (length == 0)
            {
                continue;
            }

            if (dimension != 0 && length != dimension)
            {
                throw new ArgumentException(
                    $"Item '{candidate.Source.ItemId}' has an embedding of dimension {length}, others {dimension}: diversity needs one dimension.");
            }

            dimension = length;
        }

        return dimension;
    }

    /// <summary>
    /// The groups of <paramref name="names"/> without repeats, in order of first appearance (what <c>Distinct</c> yields),
    /// without a set per call for the usual few categories: each is compared with those before it.
    /// </summary>
    private static void AddDistinctGroups(IReadOnlyList<string> names, Dictionary<string, int> groups, List<int> destination)
    {
        if (names.Count > 16)
        {
            // Many categories: a set per item is cheaper than the pairwise comparisons.
            foreach (var name in names.Distinct(StringComparer.Ordinal))
            {
                destination.Add(Group(groups, name));
            }

            return;
        }

        for (var k = 0; k < names.Count; k++)
        {
            var name = names[k];
            var repeated = false;
            for (var j = 0; j < k && !repeated; j++)
            {
                repeated = string.Equals(names[j], name, StringComparison.Ordinal);
            }

            if (!repeated)
            {
                destination.Add(Group(groups, name));
            }
        }
    }

    private static int Group(Dictionary<string, int> groups, string name)
    {
        if (!groups.TryGetValue(name, out var group))
        {
            groups[name] = group = groups.Count;
        }

        return group;
    }
}
