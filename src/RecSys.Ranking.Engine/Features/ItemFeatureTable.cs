using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using RecSys.FeatureStore.OnlineStores;
using RecSys.FeatureStore.Registry;
using RecSys.FeatureStore.Serving;
using RecSys.FeatureStore.Streaming;

namespace RecSys.Ranking.Features;

/// <summary>
/// The item side of ranking features for the whole catalog, held in process: every item of <c>items:all</c> with the
/// registry values the ranking features read of a candidate (<see cref="RankingFeatureCatalog.ItemFeatures"/>). With ~5,000
/// candidates per request, item values are nearly all of a request's feature fetch; they are aggregates that move slowly
/// (windows of days, popularity with a 3-day half-life, embeddings published in versions), so they are read in bulk in the
/// background and a request only looks them up. A refresh reads the catalog in pipelined chunks into a new snapshot and
/// swaps it in whole: a request sees one snapshot, never a half-built one. Items the snapshot lacks (created since) are
/// read per request by the provider. With an <see cref="ItemMetadataReader"/>, the items' filter metadata is read along, for
/// post-processing.
/// </summary>
public sealed class ItemFeatureTable
{
    private readonly IOnlineFeatureStore _store;
    private readonly ItemCatalogReader _catalog;
    private readonly ItemMetadataReader? _metadata;
    private readonly EmbeddingStore? _embeddings;
    private readonly RankingFeatureProviderOptions _options;
    private readonly TimeProvider _time;
    private readonly FeatureDefinition[] _definitions;
    private readonly Histogram<double>? _refreshSeconds;
    private ItemFeatureSnapshot? _current;
    private long _version;

    public ItemFeatureTable(IOnlineFeatureStore store, ItemCatalogReader catalog, FeatureRegistry registry, IOptions<RankingFeatureProviderOptions> options,
        TimeProvider time, IMeterFactory? meters = null, ItemMetadataReader? metadata = null, EmbeddingStore? embeddings = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        _store = store;
        _catalog = catalog;
        _metadata = metadata;
        _embeddings = embeddings;
        _options = options.Value;
        _time = time;
        _definitions = [.. RankingFeatureCatalog.ItemFeatures.Select(name => registry.TryGet(name, out var definition)
            ? definition
            : throw new InvalidOperationException($"The feature registry has no '{name}', which the ranking features read."))];
        if (meters is not null)
        {
            var meter = meters.Create("RecSys.Ranking.Features");
            _refreshSeconds = meter.CreateHistogram<double>("recsys.ranking.features.item_table.refresh", "s", "Time to read the whole catalog's item values");
            meter.CreateObservableGauge("recsys.ranking.features.item_table.items", () => (long)(Current?.Count ?? 0), "{item}", "Items in the in-process item feature table");
            meter.CreateObservableGauge("recsys.ranking.features.item_table.age", () => Current is { } s ? _time.GetElapsedTime(s.LoadedAt).TotalSeconds : 0,
                "s", "Age of the in-process item feature table");
        }
    }

    /// <summary>The registry features each item holds (the provider's item read, in the same order).</summary>
    public IReadOnlyList<FeatureDefinition> Definitions => _definitions;

    /// <summary>The snapshot requests read; null until the first refresh has completed.</summary>
    public ItemFeatureSnapshot? Current => Volatile.Read(ref _current);

    /// <summary>
    /// Reads every item's values and swaps the snapshot in. Chunks of <see cref="RankingFeatureProviderOptions.ItemTableChunk"/>
    /// items go out as pipelined batches, a few at a time; a store failure leaves the previous snapshot in place.
    /// </summary>
    public async Task<ItemFeatureSnapshot> RefreshAsync(CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        var versionBefore = await ActiveEmbeddingVersionAsync(cancellationToken).ConfigureAwait(false);
        var ids = await _catalog.ReadAllAsync(cancellationToken).ConfigureAwait(false);
        var items = new Dictionary<string, ItemEntry>(ids.Length, StringComparer.Ordinal);
        var categories = new Dictionary<string, string>(StringComparer.Ordinal);
        var chunk = _options.ItemTableChunk;
        var inFlight = new List<(Task<IReadOnlyList<EntityFeatureValues>> Values, string[] Ids, Task<ItemMetadata?[]>? Metadata)>(_options.ItemTableChunksInFlight);
        for (var start = 0; start < ids.Length; start += chunk)
        {
            var chunkIds = ids.AsSpan(start, Math.Min(chunk, ids.Length - start)).ToArray();
            var entities = new EntityRef[chunkIds.Length];
            for (var i = 0; i < chunkIds.Length; i++)
            {
                entities[i] = new EntityRef(EntityKinds.Item, chunkIds[i]);
            }

            inFlight.Add((_store.GetAsync(new OnlineFeatureQuery(entities, _definitions) { UseL1Cache = false }, cancellationToken), chunkIds,
                _metadata?.ReadAsync(chunkIds, cancellationToken)));
            if (inFlight.Count == _options.ItemTableChunksInFlight)
            {
                await CollectAsync(inFlight[0], items, categories).ConfigureAwait(false);
                inFlight.RemoveAt(0);
            }
        }

        foreach (var pending in inFlight)
        {
            await CollectAsync(pending, items, categories).ConfigureAwait(false);
        }

        // The store resolves the active version per chunk: only when it was the same before and after the read are all the
        // snapshot's embeddings known to be that version's (post-processing then takes them from here instead of the store).
        var versionAfter = versionBefore is null ? null : await ActiveEmbeddingVersionAsync(cancellationToken).ConfigureAwait(false);
        var snapshot = new ItemFeatureSnapshot(Interlocked.Increment(ref _version), items, started, _metadata is not null)
        {
            EmbeddingVersion = versionBefore is { Length: > 0 } && string.Equals(versionBefore, versionAfter, StringComparison.Ordinal) ? versionBefore : null,
        };
        Volatile.Write(ref _current, snapshot);
        _refreshSeconds?.Record(_time.GetElapsedTime(started).TotalSeconds);
        return snapshot;
    }

    /// <summary>The active embedding version, or null without an embedding store or when it cannot be read.</summary>
    private async Task<string?> ActiveEmbeddingVersionAsync(CancellationToken cancellationToken)
    {
        if (_embeddings is null)
        {
            return null;
        }

        try
        {
            return await _embeddings.GetActiveVersionAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OnlineStoreUnavailableException)
        {
            return null;
        }
    }

    /// <summary>
    /// Adds a chunk's items, each with its item-only features precomputed (<see cref="EntityValues.PrecomputeItemFeatures"/>)
    /// and its category names shared across the snapshot (<paramref name="categories"/>), so that the few category strings
    /// requests hash stay in cache.
    /// </summary>
    private static async Task CollectAsync((Task<IReadOnlyList<EntityFeatureValues>> Values, string[] Ids, Task<ItemMetadata?[]>? Metadata) read,
        Dictionary<string, ItemEntry> items, Dictionary<string, string> categories)
    {
        var results = await read.Values.ConfigureAwait(false);
        var metadata = read.Metadata is null ? null : await read.Metadata.ConfigureAwait(false);
        for (var e = 0; e < results.Count; e++)
        {
            var result = results[e];
            var values = new EntityValues();
            for (var i = 0; i < result.Values.Length; i++)
            {
                var value = result.Values[i];
                if (value.Ids is { Count: > 0 } names && result.Features[i].Name == RankingFeatureCatalog.ItemCategories)
                {
                    var shared = new string[names.Count];
                    for (var k = 0; k < shared.Length; k++)
                    {
                        if (!categories.TryGetValue(names[k], out var known))
                        {
                            categories[names[k]] = known = names[k];
                        }

                        shared[k] = known;
                    }

                    value = value with { Ids = shared };
                }

                values.Set(result.Features[i].Name, value);
            }

            values.PrecomputeItemFeatures();
            items[result.Entity.Id] = new ItemEntry(values, metadata?[e]);
        }
    }
}

/// <summary>An item's values and filter metadata (null: the metadata was not read or the item hash is gone).</summary>
internal readonly record struct ItemEntry(EntityValues Values, ItemMetadata? Metadata);

/// <summary>
/// One complete read of the catalog's item values (and filter metadata); never modified once published. Items are numbered
/// densely in the order they were read; <see cref="Columns"/> holds their values as records by number, and a request resolves
/// each candidate's id to its number once, against this snapshot, so that it never mixes two snapshots.
/// </summary>
public sealed class ItemFeatureSnapshot
{
    private static int s_lastStamp;

    private readonly Dictionary<string, int> _numbers;
    private readonly ItemEntry[] _entries;
    private readonly Utf8ItemIndex _utf8;

    internal ItemFeatureSnapshot(long version, Dictionary<string, ItemEntry> items, long loadedAt, bool hasMetadata)
    {
        Version = version;
        Stamp = Interlocked.Increment(ref s_lastStamp);
        _numbers = new Dictionary<string, int>(items.Count, StringComparer.Ordinal);
        _entries = new ItemEntry[items.Count];
        var ids = new string[items.Count];
        var values = new EntityValues[items.Count];
        foreach (var (id, entry) in items)
        {
            values[_numbers.Count] = entry.Values;
            _entries[_numbers.Count] = entry;
            ids[_numbers.Count] = id;
            _numbers[id] = _numbers.Count;
        }

        _utf8 = new Utf8ItemIndex(ids);
        Columns = ItemColumns.Build(values);
        LoadedAt = loadedAt;
        HasMetadata = hasMetadata;
    }

    /// <summary>A snapshot of <paramref name="items"/> (no metadata), each with its item-only features precomputed: for tests and benches.</summary>
    internal static ItemFeatureSnapshot Of(IEnumerable<KeyValuePair<string, EntityValues>> items, long version = 1)
    {
        var entries = new Dictionary<string, ItemEntry>(StringComparer.Ordinal);
        foreach (var (id, values) in items)
        {
            values.PrecomputeItemFeatures();
            entries[id] = new ItemEntry(values, null);
        }

        return new ItemFeatureSnapshot(version, entries, 0, hasMetadata: false);
    }

    public long Version { get; }

    /// <summary>Timestamp (<see cref="TimeProvider.GetTimestamp"/>) at which the read began: values are at least this fresh.</summary>
    public long LoadedAt { get; }

    /// <summary>Whether the items' filter metadata was read with their values.</summary>
    public bool HasMetadata { get; }

    /// <summary>
    /// The embedding version every item embedding of this snapshot was read under (the active one before and after the read);
    /// null when unknown (no embedding store given, no version active, or an activation during the read).
    /// </summary>
    public string? EmbeddingVersion { get; init; }

    public int Count => _entries.Length;

    /// <summary>The items' values as records by number; null when the catalog's item features do not fit a record.</summary>
    internal ItemColumns? Columns { get; }

    /// <summary>This snapshot among those of the process (1, 2, ...): a number resolved against it is valid where the stamp matches.</summary>
    public int Stamp { get; }

    /// <summary>The item's dense number in this snapshot (valid for this snapshot only).</summary>
    public bool TryGetNumber(string itemId, out int number) => _numbers.TryGetValue(itemId, out number);

    /// <summary>The item whose id has these UTF-8 bytes: the snapshot's own id string and the item's number.</summary>
    public bool TryResolveUtf8(ReadOnlySpan<byte> utf8Id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? itemId, out int number) =>
        _utf8.TryFind(utf8Id, out itemId, out number);

    /// <summary>
    /// <see cref="TryResolveUtf8"/> for many ids of one buffer at once (id k is <c>data[starts[k]..(starts[k] + lengths[k])]</c>;
    /// an unknown one gets a null id and number -1): the wire decoder's candidate id resolver, so that decoded candidates
    /// share the catalog's strings and carry their numbers.
    /// </summary>
    public void ResolveUtf8(ReadOnlySpan<byte> data, ReadOnlySpan<int> starts, ReadOnlySpan<int> lengths, Span<string?> ids, Span<int> numbers) =>
        _utf8.FindMany(data, starts, lengths, ids, numbers);

    /// <summary>The values of item <paramref name="number"/> (see <see cref="TryGetNumber"/>).</summary>
    public EntityValues ValuesAt(int number) => _entries[number].Values;

    public bool TryGet(string itemId, out EntityValues values)
    {
        if (_numbers.TryGetValue(itemId, out var number))
        {
            values = _entries[number].Values;
            return true;
        }

        values = EntityValues.Empty;
        return false;
    }

    /// <summary>
    /// The item's embedding as the store holds it under <see cref="EmbeddingVersion"/>, when that is <paramref name="version"/> and
    /// the vector has <paramref name="dimension"/> values (the array is shared: read it, never write it).
    /// </summary>
    public bool TryGetEmbedding(string itemId, string version, int dimension, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out float[]? embedding)
    {
        if (EmbeddingVersion is { } own && string.Equals(own, version, StringComparison.Ordinal) && _numbers.TryGetValue(itemId, out var number)
            && _entries[number].Values.Vector(RankingFeatureCatalog.ItemEmbedding) is { } vector && vector.Length == dimension)
        {
            embedding = vector;
            return true;
        }

        embedding = null;
        return false;
    }

    /// <summary><see cref="TryGetEmbedding"/> of item <paramref name="number"/> of this snapshot (see <see cref="TryGetNumber"/>).</summary>
    public bool TryGetEmbeddingAt(int number, string version, int dimension, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out float[]? embedding)
    {
        if (EmbeddingVersion is { } own && string.Equals(own, version, StringComparison.Ordinal) && (uint)number < (uint)_entries.Length
            && _entries[number].Values.Vector(RankingFeatureCatalog.ItemEmbedding) is { } vector && vector.Length == dimension)
        {
            embedding = vector;
            return true;
        }

        embedding = null;
        return false;
    }

    /// <summary>The item's creator, categories and creation time as of the read (availability is not kept fresh here: read it per request).</summary>
    public bool TryGetMetadata(string itemId, out ItemMetadata metadata)
    {
        metadata = ItemMetadata.Unknown;
        return _numbers.TryGetValue(itemId, out var number) && TryGetMetadataAt(number, out metadata);
    }

    /// <summary><see cref="TryGetMetadata"/> of item <paramref name="number"/> of this snapshot.</summary>
    public bool TryGetMetadataAt(int number, out ItemMetadata metadata)
    {
        if ((uint)number < (uint)_entries.Length && _entries[number].Metadata is { } known)
        {
            metadata = known;
            return true;
        }

        metadata = ItemMetadata.Unknown;
        return false;
    }
}
