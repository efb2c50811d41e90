using RecSys.FeatureStore.Serving;
using RecSys.Retrieval.Diagnostics;
using RecSys.VectorSearch;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>
/// Searches the shard set: metadata filters, exclusions and queued deletes become one id filter; hits map back to item ids.
/// Never throws for a shard's failure or timeout: the result is then partial (degraded, lower coverage), and the coverage
/// of the last search is kept for the health check.
/// </summary>
internal sealed class ShardedSearcher(
    IIndexShardSet shards,
    IndexedItems items,
    PendingWriteQueue queue,
    IndexVersion version,
    int dimension,
    RetrievalTelemetry telemetry,
    ILogger logger)
{
    private double _lastCoverage = 1;

    /// <summary>Fraction of the shards that answered the last search (1 before any).</summary>
    public double LastCoverage => Volatile.Read(ref _lastCoverage);

    /// <summary>Searches the shard set's current generation.</summary>
    public Task<IndexSearchResult> SearchAsync(
        ReadOnlyMemory<float> query,
        int k,
        int efSearch,
        ItemFilter? filter,
        IReadOnlySet<long>? excludeKeys,
        CancellationToken cancellationToken) =>
        SearchAsync(shards.Current, query, k, efSearch, filter, excludeKeys, cancellationToken);

    /// <summary>Searches <paramref name="generation"/> (the one a request pinned), whatever was swapped in since.</summary>
    public async Task<IndexSearchResult> SearchAsync(
        IndexGeneration generation,
        ReadOnlyMemory<float> query,
        int k,
        int efSearch,
        ItemFilter? filter,
        IReadOnlySet<long>? excludeKeys,
        CancellationToken cancellationToken)
    {
        if (query.Length != dimension)
        {
            throw new ArgumentException($"The query has {query.Length} dimensions, not {dimension}.", nameof(query));
        }

        using var activity = RetrievalTelemetry.ActivitySource.StartActivity("vector search");
        activity?.SetTag("recsys.k", k);
        var searchedVersion = version.Current;
        SearchFilter? engineFilter = null;
        if (filter is null && excludeKeys is { Count: > 0 } && !queue.HasPendingDeletes)
        {
            // The common case (the collaborative source's exclusions): the shards ask this for every node they consider,
            // so it is the exclusion set alone, behind its bit filter. A delete queued while the search runs is still
            // dropped below, with the hits.
            engineFilter = SearchFilter.Excluding(excludeKeys);
        }
        else if (filter is not null || excludeKeys is { Count: > 0 } || queue.HasPendingDeletes)
        {
            engineFilter = SearchFilter.FromPredicate(key => Allowed(key, filter, excludeKeys));
        }

        var result = await generation.Reader.SearchAsync(query, k, efSearch, engineFilter, cancellationToken: cancellationToken);
        var hits = new List<IndexHit>(result.Hits.Length);
        var labels = result.Labels;
        for (var i = 0; i < result.Hits.Length; i++)
        {
            var hit = result.Hits[i];
            // An item deleted while this search ran may still come back from a shard: its map entry is gone, so it is dropped.
            var label = i < labels.Length ? labels[i] : default;
            if (items.TryGetItemId(hit.Id, label, out var itemId) && !queue.IsDeletePending(hit.Id))
            {
                hits.Add(new IndexHit(itemId, hit.Score, shards.ShardOf(hit.Id)) { Key = hit.Id });
            }
        }

        Volatile.Write(ref _lastCoverage, result.Coverage);
        var plan = result.ExactScans == 0 ? "hnsw" : result.ExactScans == result.ShardsAnswered ? "exact_scan" : "mixed";
        telemetry.SearchCompleted(result.Elapsed, result.Coverage, plan);
        activity?.SetTag("recsys.coverage", result.Coverage);
        activity?.SetTag("recsys.vector.plan", plan);
        activity?.SetTag("recsys.vector.exact_scans", result.ExactScans);
        if (result.Degraded)
        {
            VectorIndexLog.SearchDegraded(logger, result.ShardsAnswered, result.ShardsTotal,
                string.Join("; ", result.Failures.Select(f => $"shard {f.ShardId}: {f.Reason}")));
        }

        return new IndexSearchResult(hits, result.ShardsAnswered, result.ShardsTotal, result.Degraded, searchedVersion, result.Elapsed, result.Failures)
        {
            EmbeddingVersion = generation.EmbeddingVersion,
        };
    }

    public bool TryGetVector(string itemId, Span<float> destination) => TryGetVector(shards.Current, itemId, destination);

    public bool TryGetVector(IndexGeneration generation, string itemId, Span<float> destination)
    {
        var key = IndexedItems.KeyOf(itemId);
        if (!items.TryGet(key, out var item) || item.ItemId != itemId || queue.IsDeletePending(key))
        {
            return false;
        }

        return generation.TryGetVector(key, destination);
    }

    private bool Allowed(long key, ItemFilter? filter, IReadOnlySet<long>? excludeKeys)
    {
        if (queue.IsDeletePending(key) || (excludeKeys is not null && excludeKeys.Contains(key)))
        {
            return false;
        }

        if (filter is null)
        {
            return true;
        }

        return items.TryGet(key, out var item) && filter.Matches(item.Metadata ?? ItemMetadata.Unknown);
    }
}
