using RecSys.Learning.Ranking;

namespace RecSys.Ranking.Models;

/// <summary>The stage folders of a ranker release (the Trainer's contract) and the output each stage ranks by.</summary>
public static class ModelKinds
{
    public const string PreRanker = "pre-ranker";
    public const string MainRanker = "main-ranker";
    public const string Student = "student";

    /// <summary>The graph output a model of <paramref name="kind"/> is ranked by: the tree score, or the MLP's raw logit.</summary>
    public static string ScoreOutput(string kind) =>
        kind == PreRanker ? OnnxExport.ScoreOutput : OnnxExport.LogitOutput;
}
