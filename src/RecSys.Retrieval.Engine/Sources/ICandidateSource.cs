using RecSys.Candidates;
using RecSys.FeatureStore.Serving;

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
    /// How much of the user's signals the source reads, or null when it reads none. The retriever reads the union for every
    /// source of a request in one round trip and hands it over in <see cref="RetrievalRequestContext.Signals"/>.
    /// </summary>
    UserSignalsQuery? SignalsNeeded => null;

    /// <summary>
    /// At most <paramref name="budget"/> distinct items, best first, each with a score in [0, 1]. An empty list means the
    /// source has nothing for this user (a cold start); a failure throws.
    /// </summary>
    Task<IReadOnlyList<ScoredItem>> RetrieveAsync(RetrievalRequestContext request, int budget, CancellationToken cancellationToken);
}

/// <summary>What the sources know of one request.</summary>
/// <param name="UserId">A valid entity id.</param>
/// <param name="Context">Free-form request context (surface, page), possibly empty.</param>
/// <param name="Count">Number of candidates the caller wants after filtering.</param>
/// <param name="Exclude">Items the caller does not want; filtered after fusion, offered to sources that can skip them early.</param>
/// <param name="Now">Request time, from the injected <see cref="TimeProvider"/>.</param>
/// <param name="Signals">
/// The user's signals, read once for the whole request (a failed read fails every source that awaits it); null when the
/// caller did not read them, and a source then reads its own.
/// </param>
public sealed record RetrievalRequestContext(
    string UserId,
    string? Context,
    int Count,
    IReadOnlySet<string> Exclude,
    DateTimeOffset Now,
    Task<UserSignals>? Signals = null)
{
    /// <summary>The request's signals, or a read of <paramref name="query"/> when the request carries none.</summary>
    public Task<UserSignals> SignalsAsync(CandidateSignalReader reader, UserSignalsQuery query, CancellationToken cancellationToken) =>
        Signals ?? reader.ReadUserSignalsAsync(UserId, query, cancellationToken);

    private double _indexCoverage = double.NaN;

    /// <summary>Fraction of the index's shards that answered this request's vector search; null when none ran.</summary>
    public double? IndexCoverage => Volatile.Read(ref _indexCoverage) is var c && double.IsNaN(c) ? null : c;

    /// <summary>Set by the source that searched the vector index (sources run in parallel, hence the volatile write).</summary>
    public void ReportIndexCoverage(double coverage) => Volatile.Write(ref _indexCoverage, coverage);
}
