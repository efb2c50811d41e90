namespace RecSys.Core.Contracts;

/// <summary>Body of <c>POST /v1/candidates</c>.</summary>
public sealed record CandidateRequest(string? UserId, string? Context, int? Count, IReadOnlyList<string>? Exclude);

/// <summary>A fused candidate with the sources that proposed it.</summary>
public sealed record CandidateDto(string ItemId, double Score, IReadOnlyList<string> Sources);

/// <summary>What one source did for one request.</summary>
public sealed record SourceReport(string Source, int Returned, double ElapsedMs, bool Failed, string? Error);

public sealed record CandidateResponse(
    string UserId,
    IReadOnlyList<CandidateDto> Candidates,
    IReadOnlyList<SourceReport> Sources,
    IReadOnlyList<string> Degraded,
    double ElapsedMs)
{
    /// <summary>
    /// Fraction of the vector index's shards that answered the collaborative search (below 1: a shard missed its deadline
    /// and the answer is partial); null when no search ran.
    /// </summary>
    public double? IndexCoverage { get; init; }
}
