using RecSys.VectorSearch;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>
/// The index as one request sees it: the shards that served when it was taken and the embedding version their vectors
/// come from. An activation swapping the index meanwhile changes nothing here, so a request that searches and reads item
/// vectors through its snapshot, and reads the user's embedding under <see cref="EmbeddingVersion"/>, never mixes versions.
/// </summary>
public sealed class IndexSnapshot
{
    private readonly ShardedSearcher _searcher;
    private readonly IndexGeneration _generation;

    internal IndexSnapshot(ShardedSearcher searcher, IndexGeneration generation, int dimension, Metric metric)
    {
        _searcher = searcher;
        _generation = generation;
        Dimension = dimension;
        Metric = metric;
    }

    /// <summary>The embedding version (empty: the unversioned store of before the first activation).</summary>
    public string EmbeddingVersion => _generation.EmbeddingVersion;

    public int Dimension { get; }

    public Metric Metric { get; }

    /// <inheritdoc cref="IVectorIndexReader.SearchAsync"/>
    public Task<IndexSearchResult> SearchAsync(
        ReadOnlyMemory<float> query,
        int k,
        int efSearch = 0,
        ItemFilter? filter = null,
        IReadOnlySet<long>? excludeKeys = null,
        CancellationToken cancellationToken = default) =>
        _searcher.SearchAsync(_generation, query, k, efSearch, filter, excludeKeys, cancellationToken);

    /// <inheritdoc cref="IVectorIndexReader.TryGetVector"/>
    public bool TryGetVector(string itemId, Span<float> destination) => _searcher.TryGetVector(_generation, itemId, destination);
}
