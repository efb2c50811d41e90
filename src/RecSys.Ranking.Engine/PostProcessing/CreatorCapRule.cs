namespace RecSys.Ranking.PostProcessing;

/// <summary>
/// Keeps at most the configured number of items per creator among the candidates: pinned items first (they are never
/// dropped), then the best scored. Items without a known creator are not capped.
/// </summary>
internal sealed class CreatorCapRule(int maxPerCreator) : IPostProcessingStage
{
    public const string Name = "creator_cap";

    public PostProcessingStageReport Apply(PostProcessingContext context)
    {
        if (maxPerCreator <= 0)
        {
            return new PostProcessingStageReport(Name);
        }

        var kept = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var candidate in context.Candidates)
        {
            if (candidate.PinnedRank > 0 && candidate.Metadata.Creator is { } creator)
            {
                kept[creator] = kept.GetValueOrDefault(creator) + 1;
            }
        }

        var byScore = context.Candidates.Where(c => c.PinnedRank == 0).ToList();
        byScore.Sort(WorkingCandidate.ByScore);
        var dropped = new HashSet<WorkingCandidate>(ReferenceEqualityComparer.Instance);
        foreach (var candidate in byScore)
        {
            if (candidate.Metadata.Creator is not { } creator)
            {
                continue;
            }

            var count = kept.GetValueOrDefault(creator);
            if (count >= maxPerCreator)
            {
                dropped.Add(candidate);
            }
            else
            {
                kept[creator] = count + 1;
            }
        }

        return new PostProcessingStageReport(Name, Removed: context.Candidates.RemoveAll(dropped.Contains));
    }
}
