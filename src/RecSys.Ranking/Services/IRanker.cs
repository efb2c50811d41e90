using RecSys.Core.Contracts;

namespace RecSys.Ranking.Services;

/// <summary>Orders candidates for one user.</summary>
public interface IRanker
{
    /// <summary>Version reported in every response's metadata.</summary>
    string Version { get; }

    /// <summary>Scores every candidate; higher is better. The result is in the order of <paramref name="candidates"/>.</summary>
    ValueTask<double[]> ScoreAsync(string userId, IReadOnlyList<CandidateDto> candidates, CancellationToken cancellationToken);
}

/// <summary>
/// The first ranker: the fused retrieval score itself (weighted reciprocal-rank fusion with the multi-source bonus).
/// It is what a learned ranker must beat offline before it is rolled out.
/// </summary>
public sealed class FusedScoreRanker : IRanker
{
    public string Version => "fused-score-v1";

    public ValueTask<double[]> ScoreAsync(string userId, IReadOnlyList<CandidateDto> candidates, CancellationToken cancellationToken)
    {
        var scores = new double[candidates.Count];
        for (var i = 0; i < scores.Length; i++)
        {
            scores[i] = candidates[i].Score;
        }

        return ValueTask.FromResult(scores);
    }
}
