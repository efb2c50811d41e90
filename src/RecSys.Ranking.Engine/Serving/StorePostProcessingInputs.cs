using RecSys.FeatureStore.Serving;
using RecSys.Ranking.Features;

namespace RecSys.Ranking.Serving;

/// <summary>
/// Post-processing's item inputs from the online store: metadata (creator, categories, availability, creation time) from the
/// in-process <see cref="ItemFeatureTable"/> when it holds them (availability still read per request) or through
/// <see cref="ItemMetadataReader"/>, and the item embeddings of the active embedding version for diversity (from the item
/// table when its snapshot holds that version's, else from the store). The active
/// version and its dimension are re-read at most every few seconds. Without embeddings (none published, or a store failure
/// on that read) diversity sees every item as dissimilar, and the rules still apply.
/// </summary>
public sealed class StorePostProcessingInputs(ItemMetadataReader metadata, EmbeddingStore embeddings, TimeProvider time, ItemFeatureTable? itemTable = null)
    : IPostProcessingInputs
{
    private static readonly TimeSpan VersionRefresh = TimeSpan.FromSeconds(5);
    // One immutable reference, replaced whole: concurrent requests never read half of an update.
    private ActiveVersion? _version;

    public Task<(IReadOnlyList<ItemMetadata?> Metadata, IReadOnlyList<float[]?> Embeddings)> ReadAsync(
        IReadOnlyList<string> itemIds, CancellationToken cancellationToken) =>
        ReadAsync(itemIds, 0, ReadOnlyMemory<int>.Empty, cancellationToken);

    /// <summary>
    /// As <see cref="ReadAsync(IReadOnlyList{string}, CancellationToken)"/>; where the item table's current snapshot is the one
    /// stamped <paramref name="tableStamp"/>, an item's entry is taken by its number instead of a lookup of its id (the same entry).
    /// </summary>
    public async Task<(IReadOnlyList<ItemMetadata?> Metadata, IReadOnlyList<float[]?> Embeddings)> ReadAsync(
        IReadOnlyList<string> itemIds, int tableStamp, ReadOnlyMemory<int> tableNumbers, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(itemIds);
        var current = itemTable?.Current;
        var numbers = current is not null && tableStamp != 0 && current.Stamp == tableStamp && tableNumbers.Length == itemIds.Count
            ? tableNumbers
            : ReadOnlyMemory<int>.Empty;
        var metadataRead = current is { HasMetadata: true } table
            ? FromTableAsync(table, itemIds, numbers, cancellationToken)
            : metadata.ReadAsync(itemIds, cancellationToken);
        float[]?[] vectors;
        try
        {
            var (version, dimension) = await ActiveVersionAsync(cancellationToken).ConfigureAwait(false);
            vectors = dimension > 0 ? await EmbeddingsAsync(current, version, dimension, itemIds, numbers, cancellationToken).ConfigureAwait(false) : new float[]?[itemIds.Count];
        }
        catch (OnlineStoreUnavailableException)
        {
            vectors = new float[]?[itemIds.Count];
        }

        return (await metadataRead.ConfigureAwait(false), vectors);
    }

    /// <summary>
    /// The items' embeddings under <paramref name="version"/>: from the item table when its snapshot was read under that version
    /// (the same bytes the store holds, decoded the same way), the rest (items the table lacks, or every item when its version
    /// differs) from the store in one read.
    /// </summary>
    private async Task<float[]?[]> EmbeddingsAsync(ItemFeatureSnapshot? current, string version, int dimension, IReadOnlyList<string> itemIds,
        ReadOnlyMemory<int> numbers, CancellationToken cancellationToken)
    {
        if (current is not { } table || !string.Equals(table.EmbeddingVersion, version, StringComparison.Ordinal))
        {
            return await embeddings.GetItemsAsync(version, itemIds, dimension, cancellationToken).ConfigureAwait(false);
        }

        var vectors = new float[]?[itemIds.Count];
        List<int>? absent = null;
        for (var i = 0; i < vectors.Length; i++)
        {
            if (numbers.IsEmpty || numbers.Span[i] < 0
                ? table.TryGetEmbedding(itemIds[i], version, dimension, out var vector)
                : table.TryGetEmbeddingAt(numbers.Span[i], version, dimension, out vector))
            {
                vectors[i] = vector;
            }
            else
            {
                (absent ??= []).Add(i);
            }
        }

        if (absent is not null)
        {
            var read = await embeddings.GetItemsAsync(version, [.. absent.Select(i => itemIds[i])], dimension, cancellationToken).ConfigureAwait(false);
            for (var k = 0; k < absent.Count; k++)
            {
                vectors[absent[k]] = read[k];
            }
        }

        return vectors;
    }

    /// <summary>
    /// Creator, categories and creation time from the item table (one hash read per item saved), availability from one
    /// read of the unavailable set so that it is as fresh as the store; items the table lacks are read from the store.
    /// </summary>
    private async Task<ItemMetadata?[]> FromTableAsync(ItemFeatureSnapshot table, IReadOnlyList<string> itemIds, ReadOnlyMemory<int> numbers, CancellationToken cancellationToken)
    {
        var unavailable = await metadata.ReadUnavailableAsync(itemIds, cancellationToken).ConfigureAwait(false);
        var result = new ItemMetadata?[itemIds.Count];
        List<int>? absent = null;
        for (var i = 0; i < result.Length; i++)
        {
            if (numbers.IsEmpty || numbers.Span[i] < 0 ? table.TryGetMetadata(itemIds[i], out var known) : table.TryGetMetadataAt(numbers.Span[i], out known))
            {
                result[i] = known.Available == !unavailable[i] ? known : known with { Available = !unavailable[i] };
            }
            else
            {
                (absent ??= []).Add(i);
            }
        }

        if (absent is not null)
        {
            var read = await metadata.ReadAsync([.. absent.Select(i => itemIds[i])], cancellationToken).ConfigureAwait(false);
            for (var k = 0; k < absent.Count; k++)
            {
                result[absent[k]] = read[k];
            }
        }

        return result;
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
