namespace RecSys.Ranking.PostProcessing;

/// <summary>Drops the candidates the item metadata marks unavailable.</summary>
internal sealed class AvailabilityRule : IPostProcessingStage
{
    public const string Name = "availability";

    public PostProcessingStageReport Apply(PostProcessingContext context) =>
        new(Name, Removed: context.Candidates.RemoveAll(candidate => !candidate.Metadata.Available));
}
