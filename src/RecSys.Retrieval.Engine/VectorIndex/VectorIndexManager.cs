using RecSys.FeatureStore.Serving;
using RecSys.Retrieval.Diagnostics;
using RecSys.VectorSearch;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>
/// The item vector index over <see cref="VectorIndexOptions.Shards"/> shards, in-process or in Qdrant
/// (<see cref="VectorIndexOptions.Backend"/>). A thin coordinator: writes queue up in <see cref="PendingWriteQueue"/> and are
/// applied by <see cref="IndexWriteApplier"/> (on a period, on demand, or at once for small API batches); searches go through
/// <see cref="ShardedSearcher"/>; <see cref="IndexRebuilder"/> rebuilds and swaps shards atomically; an
/// <see cref="IIndexPersistence"/> saves and loads; <see cref="IndexStatusReporter"/> reports. Apply, rebuild, save and load
/// are serialized by one gate; searches never wait for them.
/// </summary>
public sealed class VectorIndexManager : IVectorIndexReader, IDisposable
{
    private readonly VectorIndexOptions _options;
    private readonly IIndexShardSet _shards;
    private readonly IIndexPersistence _persistence;
    private readonly PendingWriteQueue _queue;
    private readonly IndexVersion _version = new();
    private readonly ItemMetadataRefresher _metadata;
    private readonly IndexWriteApplier _applier;
    private readonly ShardedSearcher _searcher;
    private readonly IndexRebuilder _rebuilder;
    private readonly IndexStatusReporter _status;
    private readonly IndexActivator _activator;
    private readonly EmbeddingStore? _embeddings;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private int _disposed;

    /// <summary>An embedded index (in-process shards, snapshots under the data directory).</summary>
    /// <param name="metadata">Null: filter metadata is never read (every item is <see cref="ItemMetadata.Unknown"/>).</param>
    /// <param name="decorateShard">Wraps the shards searches go through (tests inject slow or failing shards).</param>
    internal VectorIndexManager(
        VectorIndexOptions options,
        ItemMetadataReader? metadata,
        RetrievalTelemetry telemetry,
        TimeProvider time,
        ILogger logger,
        Func<LocalVectorShard, IVectorShard>? decorateShard,
        EmbeddingStore? embeddings = null)
        : this(options, metadata, telemetry, time, logger, (items, version) =>
        {
            var shards = new EmbeddedShardSet(options, decorateShard);
            return (shards, new SnapshotPersister(shards, items, version, options, time, telemetry, logger));
        }, embeddings)
    {
    }

    /// <param name="backend">Creates the shard set and its persistence over the index's item map and version.</param>
    /// <param name="embeddings">The versioned embedding store activations read from (null: activations are refused).</param>
    internal VectorIndexManager(
        VectorIndexOptions options,
        ItemMetadataReader? metadata,
        RetrievalTelemetry telemetry,
        TimeProvider time,
        ILogger logger,
        Func<IndexedItems, IndexVersion, (IIndexShardSet Shards, IIndexPersistence Persistence)> backend,
        EmbeddingStore? embeddings = null)
    {
        _options = options;
        _embeddings = embeddings;
        _logger = logger;
        var items = new IndexedItems();
        (_shards, _persistence) = backend(items, _version);
        _queue = new PendingWriteQueue(items, options.Dimensions, logger);
        _metadata = new ItemMetadataRefresher(metadata, items, logger);
        _applier = new IndexWriteApplier(_queue, items, _shards, _metadata, _version, options.Dimensions, telemetry, logger);
        _searcher = new ShardedSearcher(_shards, items, _queue, _version, options.Dimensions, telemetry, logger);
        _activator = new IndexActivator(_gate, _applier, _shards, items, _metadata, _persistence, _version, embeddings, options, time, telemetry, logger, _stopping.Token);
        _rebuilder = new IndexRebuilder(_gate, _applier, _shards, items, _metadata, _persistence, _version, time, telemetry, logger, _stopping.Token,
            _shards is EmbeddedShardSet ? _activator.RebuildServingAsync : null);
        _status = new IndexStatusReporter(options, _shards, _persistence, _rebuilder, _searcher, _queue, _version);
        telemetry.Attach(this);
    }

    public int Dimension => _options.Dimensions;

    public Metric Metric => _options.Metric;

    public int ShardCount => _shards.Count;

    /// <summary>"embedded" or "qdrant".</summary>
    public string Backend => _shards.Backend;

    /// <summary>API writes of at most this many items are applied at once.</summary>
    public int ImmediateApplyMaxItems => _options.ImmediateApplyMaxItems;

    /// <summary>Increases with every applied batch and every shard swap; survives restarts through the persisted state.</summary>
    public long Version => _version.Current;

    public bool Persistent => _persistence.Persistent;

    /// <summary>True once <see cref="LoadAsync"/> has run (or when there is nothing to load).</summary>
    public bool Loaded => _persistence.Loaded;

    public int PendingWrites => _queue.Count;

    public bool IsRebuilding => _rebuilder.IsRunning;

    /// <summary>An embedding version is being built and checked (item writes are refused meanwhile).</summary>
    public bool IsActivating => _activator.IsRunning;

    /// <summary>The embedding version the serving shards were built from (empty: the unversioned store).</summary>
    public string EmbeddingVersion => _shards.Current.EmbeddingVersion;

    /// <summary>
    /// Pins what one request reads: the serving shards and their embedding version. Search and read item vectors through it,
    /// and read the user's embedding under <see cref="IndexSnapshot.EmbeddingVersion"/>, so that nothing of the request
    /// comes from another version even when an activation swaps the index meanwhile.
    /// </summary>
    public IndexSnapshot Snapshot() => new(_searcher, _shards.Current, Dimension, Metric);

    /// <summary>
    /// Starts activating <paramref name="embeddingVersion"/> (rebuild from its item vectors, recall check, swap, pointer switch)
    /// in the background; while one runs, returns the running one's status (<c>Started</c> false).
    /// </summary>
    /// <exception cref="NotSupportedException">Qdrant backend, or no embedding store.</exception>
    public (ActivationStatus Status, bool Started) StartActivation(string embeddingVersion)
    {
        var (status, _, started) = _activator.Start(embeddingVersion);
        return (status, started);
    }

    /// <summary>Starts an activation (or joins the running one) and waits for it.</summary>
    public async Task<ActivationStatus> ActivateAsync(string embeddingVersion, CancellationToken cancellationToken = default)
    {
        var (_, task, _) = _activator.Start(embeddingVersion);
        return await task.WaitAsync(cancellationToken);
    }

    /// <summary>The latest activation of <paramref name="embeddingVersion"/> in this process, or null.</summary>
    public ActivationStatus? ActivationOf(string embeddingVersion) => _activator.StatusOf(embeddingVersion);

    public RebuildStatus Rebuild => _rebuilder.Status;

    /// <summary>The running (or last) rebuild.</summary>
    internal Task RebuildTask => _rebuilder.Task;

    /// <summary>Live vectors, soft deletes and memory of one shard (for the gauges).</summary>
    internal ShardCounts CountsOf(int shard) => _shards.CountsOf(shard);

    /// <summary>Queues adds or updates (vectors must have <see cref="Dimension"/> finite floats; the caller validates).</summary>
    public IndexWriteResult EnqueueUpserts(IReadOnlyList<(string ItemId, float[] Vector)> items)
    {
        var (accepted, rejected) = _queue.EnqueueUpserts(items);
        return new IndexWriteResult(accepted, Applied: false, PendingWrites, rejected, Version);
    }

    /// <summary>Queues deletes; the items disappear from searches at once and from the shards at the next apply.</summary>
    public IndexWriteResult EnqueueDeletes(IReadOnlyList<string> itemIds) =>
        new(_queue.EnqueueDeletes(itemIds), Applied: false, PendingWrites, [], Version);

    /// <summary>Applies every queued write to the shards (incremental update); returns how many were applied.</summary>
    public Task<int> ApplyPendingAsync(CancellationToken cancellationToken = default) =>
        UnderGateAsync(_applier.ApplyAsync, cancellationToken);

    /// <summary>Applies the queue now unless a rebuild holds the shards (then the writes stay queued). True when applied.</summary>
    public async Task<bool> TryApplyNowAsync(CancellationToken cancellationToken)
    {
        if (IsRebuilding || IsActivating)
        {
            return false;
        }

        await ApplyPendingAsync(cancellationToken);
        return true;
    }

    public Task<IndexSearchResult> SearchAsync(
        ReadOnlyMemory<float> query,
        int k,
        int efSearch = 0,
        ItemFilter? filter = null,
        IReadOnlySet<long>? excludeKeys = null,
        CancellationToken cancellationToken = default) =>
        _searcher.SearchAsync(query, k, efSearch, filter, excludeKeys, cancellationToken);

    public bool TryGetVector(string itemId, Span<float> destination) => _searcher.TryGetVector(itemId, destination);

    IndexSnapshot IVectorIndexReader.Snapshot() => Snapshot();

    /// <summary>The key an item id maps to (for exclusion sets).</summary>
    public static long KeyOf(string itemId) => IndexedItems.KeyOf(itemId);

    /// <summary>Starts a full rebuild in the background unless one is running; returns its status.</summary>
    public RebuildStatus StartRebuild() => _rebuilder.Start();

    /// <summary>Starts a rebuild (or joins the running one) and waits for it.</summary>
    public async Task<RebuildStatus> RebuildAsync(CancellationToken cancellationToken = default)
    {
        StartRebuild();
        await RebuildTask.WaitAsync(cancellationToken);
        return Rebuild;
    }

    /// <summary>Re-reads the filter metadata of every indexed item (availability and categories change over time).</summary>
    public Task RefreshMetadataAsync(CancellationToken cancellationToken = default) =>
        UnderGateAsync(_metadata.RefreshAllAsync, cancellationToken);

    /// <summary>Persists every shard now (no-op when the index is not persistent).</summary>
    public Task SnapshotAsync(CancellationToken cancellationToken = default) =>
        Persistent ? UnderGateAsync(_persistence.SaveAsync, cancellationToken) : Task.CompletedTask;

    /// <summary>Persists when the index changed since the last save; true when it did.</summary>
    public async Task<bool> SnapshotIfChangedAsync(CancellationToken cancellationToken = default)
    {
        if (!Persistent || Version == _persistence.PersistedIndexVersion)
        {
            return false;
        }

        await SnapshotAsync(cancellationToken);
        return true;
    }

    /// <summary>Loads the persisted state (see the <see cref="IIndexPersistence"/> in use).</summary>
    /// <remarks>
    /// The loaded shards are labelled with the store's active embedding version: snapshots are written after every activation,
    /// so the newest one holds the active version's vectors (a crash between the swap and the save is the exception: the next
    /// activation or rebuild corrects it).
    /// </remarks>
    public async Task LoadAsync(CancellationToken cancellationToken = default)
    {
        await (Persistent ? UnderGateAsync(_persistence.LoadAsync, cancellationToken) : _persistence.LoadAsync(cancellationToken));
        if (_embeddings is null)
        {
            return;
        }

        try
        {
            _shards.SetEmbeddingVersion(await _embeddings.GetActiveVersionAsync(cancellationToken));
        }
        catch (OnlineStoreUnavailableException ex)
        {
            VectorIndexLog.EmbeddingVersionUnknown(_logger, ex);
        }
    }

    public IndexStatus GetStatus() => _status.GetStatus();

    /// <summary>Why the index is not fully healthy, or null when it is.</summary>
    internal string? DegradedReason() => _status.DegradedReason();

    public void Dispose()
    {
        // The container disposes it once per registration (as itself and as IVectorIndexReader): only the first counts.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stopping.Cancel();
        _stopping.Dispose();
        _gate.Dispose();
    }

    private async Task UnderGateAsync(Func<CancellationToken, Task> work, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await work(cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<T> UnderGateAsync<T>(Func<CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            return await work(cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }
}
