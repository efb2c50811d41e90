namespace RecSys.Ranking.PostProcessing;

/// <summary>
/// Marks the configured pinned items that are still eligible candidates (present, available, not blocked) with their rank.
/// Pins for the request's context beyond the requested count are left out: such an item competes like any other.
/// </summary>
internal sealed class PinnedItemRule(IReadOnlyList<PinnedItemOptions> pins) : IPostProcessingStage
{
    public const string Name = "pinned";

    public PostProcessingStageReport Apply(PostProcessingContext context)
    {
        if (pins.Count == 0)
        {
            return new PostProcessingStageReport(Name);
        }

        var rankByItem = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var pin in pins)
        {
            if (pin.Rank <= context.Request.Count && AppliesIn(pin, context.Request.Context))
            {
                rankByItem[pin.ItemId] = pin.Rank;
            }
        }

        var pinned = 0;
        foreach (var candidate in context.Candidates)
        {
            // A candidate listed twice is pinned once; the later copy stays an ordinary candidate.
            if (rankByItem.Remove(candidate.Source.ItemId, out var rank))
            {
                candidate.PinnedRank = rank;
                pinned++;
            }
        }

        return new PostProcessingStageReport(Name, Pinned: pinned);
    }

    private static bool AppliesIn(PinnedItemOptions pin, string? context) =>
        pin.Contexts.Length == 0 || (context is not null && pin.Contexts.Contains(context, StringComparer.OrdinalIgnoreCase));
}
