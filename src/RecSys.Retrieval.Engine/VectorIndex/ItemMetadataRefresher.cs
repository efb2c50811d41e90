using RecSys.FeatureStore.Serving;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>
/// Reads the filter metadata of indexed items from the online store. An unavailable store is logged and leaves the
/// metadata as it was (filters treat never-read items as <see cref="ItemMetadata.Unknown"/>).
/// </summary>
/// <param name="reader">Null: metadata is never read.</param>
internal sealed class ItemMetadataRefresher(ItemMetadataReader? reader, IndexedItems items, ILogger logger)
{
    /// <summary>Re-reads every indexed item (availability and categories change over time).</summary>
    public Task RefreshAllAsync(CancellationToken cancellationToken) =>
        ReadAsync(items.Entries.Select(e => e.Value).ToList(), cancellationToken);

    public async Task ReadAsync(IReadOnlyList<IndexedItem> targets, CancellationToken cancellationToken)
    {
        if (reader is null || targets.Count == 0)
        {
            return;
        }

        try
        {
            var metadata = await reader.ReadAsync(targets.Select(i => i.ItemId).ToList(), cancellationToken);
            for (var i = 0; i < targets.Count; i++)
            {
                targets[i].Metadata = metadata[i] ?? targets[i].Metadata;
            }
        }
        catch (Exception ex) when (ex is OnlineStoreUnavailableException or TimeoutException)
        {
            VectorIndexLog.MetadataUnavailable(logger, targets.Count, ex);
        }
    }
}
