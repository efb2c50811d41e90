namespace RecSys.Core.Contracts;

public sealed record RankedItem(string ItemId, double Score, IReadOnlyList<string> Sources);

/// <summary>How a recommendation list was made: the ranker, what was degraded, and the time each stage took.</summary>
public sealed record RecommendationMetadata(
    string RequestId,
    string RankerVersion,
    IReadOnlyList<string> Degraded,
    IReadOnlyDictionary<string, double> StageMs,
    int CandidatesConsidered);

public sealed record RecommendationResponse(string UserId, IReadOnlyList<RankedItem> Items, RecommendationMetadata Metadata);
