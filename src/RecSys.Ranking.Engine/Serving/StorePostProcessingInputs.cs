using RecSys.FeatureStore.Serving;

namespace RecSys.Ranking.Serving;

/// <summary>
/// Post-processing's item inputs from the online store: metadata (creator, categories, availability) through
/// <see cref="ItemMetadataReader"/>, and the item embeddings of the active embedding version for diversity. The active
/// version and its dimension are re-read at most every few seconds. Without embeddings (none published, or a store failure
/// on that read) diversity sees every item as dissimilar, and the rules still apply.
/// </summary>
public sealed class StorePostProcessingInputs(ItemMetadataReader metadata, EmbeddingStore embeddings, TimeProvider time) : IPostProcessingInputs
{
    private static readonly TimeSpan VersionRefresh = TimeSpan.FromSeconds(5);
    // One immutable reference, replaced whole: concurrent requests never read half of an update.
    private ActiveVersion? _version;

    public async Task<(IReadOnlyList<ItemMetadata?> Metadata, IReadOnlyList<float[]?> Embeddings)> ReadAsync(
        IReadOnlyList<string> itemIds, CancellationToken cancellationToken)
    {
        var metadataRead = metadata.ReadAsync(itemIds, cancellationToken);
        float[]?[] vectors;
        try
        {
            var (version, dimension) = await ActiveVersionAsync(cancellationToken).ConfigureAwait(false);
            vectors = dimension > 0 ? await embeddings.GetItemsAsync(version, itemIds, dimension, cancellationToken).ConfigureAwait(false) : new float[]?[itemIds.Count];
        }
        catch (OnlineStoreUnavailableException)
        {
            vectors = new float[]?[itemIds.Count];
        }

        return (await metadataRead.ConfigureAwait(false), vectors);
    }

    private async Task<(string Version, int Dimension)> ActiveVersionAsync(CancellationToken cancellationToken)
    {
        var now = time.GetTimestamp();
        if (Volatile.Read(ref _version) is { } cached && time.GetElapsedTime(cached.ReadAt, now) < VersionRefresh)
        {
            return (cached.Version, cached.Dimension);
        }

        var version = await embeddings.GetActiveVersionAsync(cancellationToken).ConfigureAwait(false);

        // Before the first activation the store holds only unversioned vectors of unknown dimension: no diversity input.
        var dimension = version.Length == 0 ? 0 : (await embeddings.GetVersionAsync(version, cancellationToken).ConfigureAwait(false))?.Dimension ?? 0;
        Volatile.Write(ref _version, new ActiveVersion(version, dimension, now));
        return (version, dimension);
    }

    private sealed record ActiveVersion(string Version, int Dimension, long ReadAt);
}
