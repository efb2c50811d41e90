using RecSys.VectorSearch;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>The read side of the item vector index, as the candidate sources and the embedding resolver use it.</summary>
public interface IVectorIndexReader
{
    int Dimension { get; }

    Metric Metric { get; }

    /// <summary>
    /// Sharded top-<paramref name="k"/> for <paramref name="query"/> (<see cref="Dimension"/> floats). Never throws for a
    /// shard's failure or timeout: the result is then partial (<see cref="IndexSearchResult.Degraded"/>).
    /// </summary>
    Task<IndexSearchResult> SearchAsync(
        ReadOnlyMemory<float> query,
        int k,
        int efSearch = 0,
        ItemFilter? filter = null,
        IReadOnlySet<long>? excludeKeys = null,
        CancellationToken cancellationToken = default);

    /// <summary>Copies the indexed vector of <paramref name="itemId"/> (normalized under cosine); false when it is not indexed.</summary>
    bool TryGetVector(string itemId, Span<float> destination);

    /// <summary>Pins the serving shards and their embedding version for one request (<see cref="IndexSnapshot"/>).</summary>
    IndexSnapshot Snapshot();

    /// <summary>The key an item id maps to (for exclusion sets).</summary>
    static long KeyOf(string itemId) => IndexedItems.KeyOf(itemId);
}
