namespace RecSys.Core.Contracts;

public sealed record RankedItem(string ItemId, double Score, IReadOnlyList<string> Sources);

/// <summary>How a recommendation list was made: the ranker, what was degraded, and the time each stage took.</summary>
public sealed record RecommendationMetadata(
    string RequestId,
    string RankerVersion,
    IReadOnlyList<string> Degraded,
    IReadOnlyDictionary<string, double> StageMs,
    int CandidatesConsidered)
{
    /// <summary>
    /// The learned models that ranked (keys <c>release</c>, <c>pre-ranker</c>, <c>main-ranker</c> or <c>student</c>,
    /// <c>provider</c>); null when the fused retrieval score ranked.
    /// </summary>
    public IReadOnlyDictionary<string, string>? Models { get; init; }

    /// <summary>Retrieval's <see cref="CandidateResponse.IndexCoverage"/>: below 1 when the vector search was partial.</summary>
    public double? IndexCoverage { get; init; }
}

public sealed record RecommendationResponse(string UserId, IReadOnlyList<RankedItem> Items, RecommendationMetadata Metadata);
