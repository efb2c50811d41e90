namespace RecSys.Ranking.PostProcessing;

/// <summary>
/// Maps the main ranker's logits to probabilities with the release's calibrator of the request's segment (the global one for
/// a segment without its own). Without a calibration it applies a plain sigmoid and says so.
/// </summary>
internal sealed class CalibrationStage : IPostProcessingStage
{
    public const string Name = "calibration";

    public PostProcessingStageReport Apply(PostProcessingContext context)
    {
        var calibration = context.Request.Calibration;
        foreach (var candidate in context.Candidates)
        {
            var logit = candidate.Source.Logit;
            candidate.Probability = calibration is null ? Sigmoid(logit) : calibration.Apply(logit, context.Request.Segment);
            candidate.Score = candidate.Probability;
        }

        context.Calibrated = calibration is not null;
        return calibration is null
            ? new PostProcessingStageReport(Name, Changed: context.Candidates.Count, Note: "no calibrator: sigmoid(logit)")
            : new PostProcessingStageReport(Name, Changed: context.Candidates.Count, Note: $"segment {context.Request.Segment}");
    }

    internal static float Sigmoid(float logit) => (float)(1 / (1 + Math.Exp(-logit)));
}
