namespace RecSys.Ranking.PostProcessing;

/// <summary>
/// Cuts the ordered items to the requested count and puts the pinned items at their ranks. When too few items remain to reach
/// a pinned rank, the pinned item moves up to the end of the list (it is never dropped).
/// </summary>
internal sealed class TopNStage : IPostProcessingStage
{
    public const string Name = "top_n";

    public PostProcessingStageReport Apply(PostProcessingContext context)
    {
        var ordered = context.Ordered ?? throw new InvalidOperationException("The top-N stage runs after the diversity stage.");
        var pins = context.Candidates.Where(c => c.PinnedRank > 0).OrderBy(c => c.PinnedRank).ToList();
        var total = Math.Min(context.Request.Count, ordered.Count + pins.Count);
        var final = new List<WorkingCandidate>(total);
        int nextPin = 0, nextOrdered = 0;
        for (var rank = 1; rank <= total; rank++)
        {
            var takePin = nextPin < pins.Count && (pins[nextPin].PinnedRank <= rank || nextOrdered >= ordered.Count);
            final.Add(takePin ? pins[nextPin++] : ordered[nextOrdered++]);
        }

        context.Final = final;
        return new PostProcessingStageReport(Name, Removed: context.Candidates.Count - final.Count, Pinned: nextPin);
    }
}
