namespace RecSys.Retrieval.Sources;

/// <summary>
/// One way of proposing candidates (collaborative, content, trending, ...). The retriever runs every enabled source in
/// parallel, each under its own timeout, and fuses their lists with the source's configured weight.
/// </summary>
public interface ICandidateSource
{
    /// <summary>The source's name in responses, metrics and configuration (<c>Retrieval:Sources:&lt;Name&gt;</c>).</summary>
    string Name { get; }

    /// <summary>
    /// At most <paramref name="budget"/> distinct items, best first, each with a score in [0, 1]. An empty list means the
    /// source has nothing for this user (a cold start); a failure throws.
    /// </summary>
    Task<IReadOnlyList<ScoredItem>> RetrieveAsync(RetrievalRequestContext request, int budget, CancellationToken cancellationToken);
}

/// <summary>An item proposed by a source with its normalized score.</summary>
public readonly record struct ScoredItem(string ItemId, double Score);

/// <summary>What the sources know of one request.</summary>
/// <param name="UserId">A valid entity id.</param>
/// <param name="Context">Free-form request context (surface, page), possibly empty.</param>
/// <param name="Count">Number of candidates the caller wants after filtering.</param>
/// <param name="Exclude">Items the caller does not want; filtered after fusion, offered to sources that can skip them early.</param>
/// <param name="Now">Request time, from the injected <see cref="TimeProvider"/>.</param>
public sealed record RetrievalRequestContext(
    string UserId,
    string? Context,
    int Count,
    IReadOnlySet<string> Exclude,
    DateTimeOffset Now);
