using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using RecSys.VectorSearch;
using RecSys.FeatureStore.Serving;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>
/// The spec's ANNIndexManager over <see cref="VectorIndexOptions.Shards"/> local shards (items routed by <see cref="ShardRouter"/>).
/// Writes queue up (latest write per item wins) and are applied by <see cref="ApplyPendingAsync"/>: on a period, on demand, or at
/// once for small API batches. A queued delete hides the item from searches immediately. A full rebuild compacts each shard off
/// the query path and swaps it in atomically; searches read each shard's index reference once, so they see the old or the new
/// index and never fail because of a swap. Every shard is snapshotted with its item map (<see cref="ItemMapFile"/>) under
/// <see cref="VectorIndexOptions.DataDirectory"/>; <see cref="LoadAsync"/> takes the newest pair that verifies and rolls back
/// to the previous one otherwise. Apply, rebuild, snapshot and load are serialized; searches never wait for them.
/// </summary>
public sealed class VectorIndexManager : IDisposable
{
    private readonly VectorIndexOptions _options;
    private readonly ItemMetadataReader? _metadata;
    private readonly VectorIndexTelemetry _telemetry;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly LocalVectorShard[] _shards;
    private readonly ScatterGatherCoordinator _writer;
    private readonly ScatterGatherCoordinator _reader;
    private readonly IndexedItems _items = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _pendingLock = new();
    private readonly Lock _rebuildLock = new();
    private readonly ConcurrentDictionary<long, long> _pendingDeletes = new();
    private readonly SnapshotStore?[] _stores;
    private readonly long?[] _snapshotVersions;
    private readonly bool[] _missing;
    private readonly CancellationTokenSource _stopping = new();
    private Dictionary<long, PendingWrite> _pending = [];
    private long _sequence;
    private long _version;
    private long _snapshotIndexVersion;
    private int _snapshotsRejected;
    private double _lastCoverage = 1;
    private DateTimeOffset? _lastRebuild;
    private DateTimeOffset? _lastSnapshot;
    private RebuildStatus _rebuild = RebuildStatus.Idle;
    private Task _rebuildTask = Task.CompletedTask;
    private volatile bool _loaded;

    public VectorIndexManager(
        IOptions<VectorIndexOptions> options,
        ItemMetadataReader metadata,
        VectorIndexTelemetry telemetry,
        TimeProvider time,
        ILogger<VectorIndexManager> logger)
        : this(options.Value, metadata, telemetry, time, logger, decorateShard: null)
    {
    }

    /// <param name="metadata">Null: filter metadata is never read (every item is <see cref="ItemMetadata.Unknown"/>).</param>
    /// <param name="decorateShard">Wraps the shards searches go through (tests inject slow or failing shards).</param>
    internal VectorIndexManager(
        VectorIndexOptions options,
        ItemMetadataReader? metadata,
        VectorIndexTelemetry telemetry,
        TimeProvider time,
        ILogger logger,
        Func<LocalVectorShard, IVectorShard>? decorateShard)
    {
        _options = options;
        _metadata = metadata;
        _telemetry = telemetry;
        _time = time;
        _logger = logger;
        var hnsw = options.ToHnsw();
        _shards = new LocalVectorShard[options.Shards];
        var readShards = new IVectorShard[options.Shards];
        _stores = new SnapshotStore?[options.Shards];
        _snapshotVersions = new long?[options.Shards];
        _missing = new bool[options.Shards];
        for (var i = 0; i < _shards.Length; i++)
        {
            _shards[i] = new LocalVectorShard(i, hnsw);
            readShards[i] = decorateShard?.Invoke(_shards[i]) ?? _shards[i];
            if (!string.IsNullOrWhiteSpace(options.DataDirectory))
            {
                _stores[i] = new SnapshotStore(Path.Combine(options.DataDirectory, "vector-index", $"shard-{i}"), options.SnapshotsRetained);
            }
        }

        _writer = new ScatterGatherCoordinator(_shards);
        _reader = new ScatterGatherCoordinator(readShards, new ScatterGatherOptions
        {
            PerShardTimeout = TimeSpan.FromMilliseconds(options.PerShardTimeoutMs),
        });
        telemetry.Attach(this);
    }

    public int Dimension => _options.Dimensions;

    public Metric Metric => _options.Metric;

    public int ShardCount => _shards.Length;

    /// <summary>API writes of at most this many items are applied at once.</summary>
    public int ImmediateApplyMaxItems => _options.ImmediateApplyMaxItems;

    /// <summary>Increases with every applied batch and every shard swap; survives restarts through the snapshots.</summary>
    public long Version => Interlocked.Read(ref _version);

    public bool Persistent => _stores[0] is not null;

    /// <summary>True once <see cref="LoadAsync"/> has run (or when there is nothing to load).</summary>
    public bool Loaded => _loaded || !Persistent;

    public int PendingWrites
    {
        get
        {
            lock (_pendingLock)
            {
                return _pending.Count;
            }
        }
    }

    public bool IsRebuilding
    {
        get
        {
            lock (_rebuildLock)
            {
                return _rebuild.State == RebuildState.Running;
            }
        }
    }

    public RebuildStatus Rebuild
    {
        get
        {
            lock (_rebuildLock)
            {
                return _rebuild;
            }
        }
    }

    internal IReadOnlyList<LocalVectorShard> LocalShards => _shards;

    /// <summary>The running (or last) rebuild.</summary>
    internal Task RebuildTask
    {
        get
        {
            lock (_rebuildLock)
            {
                return _rebuildTask;
            }
        }
    }

    // ------------------------------------------------------------------ writes

    /// <summary>Queues adds or updates (vectors must have <see cref="Dimension"/> finite floats; the caller validates).</summary>
    public IndexWriteResult EnqueueUpserts(IReadOnlyList<(string ItemId, float[] Vector)> items)
    {
        var rejected = new List<string>();
        var accepted = 0;
        lock (_pendingLock)
        {
            foreach (var (itemId, vector) in items)
            {
                if (vector.Length != Dimension)
                {
                    throw new ArgumentException($"Vector of {itemId} has {vector.Length} dimensions, not {Dimension}.", nameof(items));
                }

                var key = IndexedItems.KeyOf(itemId);
                if (Collides(key, itemId))
                {
                    rejected.Add(itemId);
                    continue;
                }

                _pending[key] = new PendingWrite(itemId, vector, ++_sequence);
                _pendingDeletes.TryRemove(key, out _);
                accepted++;
            }
        }

        return new IndexWriteResult(accepted, Applied: false, PendingWrites, rejected, Version);
    }

    /// <summary>Queues deletes; the items disappear from searches at once and from the shards at the next apply.</summary>
    public IndexWriteResult EnqueueDeletes(IReadOnlyList<string> itemIds)
    {
        var accepted = 0;
        lock (_pendingLock)
        {
            foreach (var itemId in itemIds)
            {
                var key = IndexedItems.KeyOf(itemId);
                if (Collides(key, itemId))
                {
                    continue;
                }

                var seq = ++_sequence;
                _pending[key] = new PendingWrite(itemId, null, seq);
                _pendingDeletes[key] = seq;
                accepted++;
            }
        }

        return new IndexWriteResult(accepted, Applied: false, PendingWrites, [], Version);
    }

    private bool Collides(long key, string itemId)
    {
        string? other = null;
        if (_items.TryGet(key, out var existing) && existing.ItemId != itemId)
        {
            other = existing.ItemId;
        }
        else if (_pending.TryGetValue(key, out var queued) && queued.ItemId != itemId)
        {
            other = queued.ItemId;
        }

        if (other is null)
        {
            return false;
        }

        VectorIndexLog.IdCollision(_logger, itemId, other, key);
        return true;
    }

    /// <summary>Applies every queued write to the shards (the spec's incremental_update); returns how many were applied.</summary>
    public async Task<int> ApplyPendingAsync(CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            return await ApplyCoreAsync(cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Applies the queue now unless a rebuild holds the shards (then the writes stay queued). True when applied.</summary>
    public async Task<bool> TryApplyNowAsync(CancellationToken cancellationToken)
    {
        if (IsRebuilding)
        {
            return false;
        }

        await ApplyPendingAsync(cancellationToken);
        return true;
    }

    private async Task<int> ApplyCoreAsync(CancellationToken cancellationToken)
    {
        Dictionary<long, PendingWrite> batch;
        lock (_pendingLock)
        {
            if (_pending.Count == 0)
            {
                return 0;
            }

            batch = _pending;
            _pending = [];
        }

        try
        {
            var upserts = new List<(long Key, PendingWrite Write, IndexedItem Item)>();
            var deletes = new List<(long Key, PendingWrite Write)>();
            foreach (var (key, write) in batch)
            {
                if (write.Vector is null)
                {
                    deletes.Add((key, write));
                }
                else if (_items.TryRegister(write.ItemId, key, out var item))
                {
                    upserts.Add((key, write, item));
                }
            }

            if (upserts.Count > 0)
            {
                await ReadMetadataAsync(upserts.Select(u => u.Item).ToList(), cancellationToken);
                var ids = new long[upserts.Count];
                var vectors = new float[upserts.Count * Dimension];
                for (var i = 0; i < upserts.Count; i++)
                {
                    ids[i] = upserts[i].Key;
                    upserts[i].Write.Vector.CopyTo(vectors.AsSpan(i * Dimension, Dimension));
                }

                await UpsertPerShardAsync(ids, vectors, cancellationToken);
                _telemetry.Applied("upsert", upserts.Count);
            }

            if (deletes.Count > 0)
            {
                await _writer.DeleteAsync(deletes.Select(d => d.Key).ToArray(), cancellationToken);
                foreach (var (key, write) in deletes)
                {
                    _items.Remove(key, write.ItemId);
                    _pendingDeletes.TryRemove(new KeyValuePair<long, long>(key, write.Sequence));
                }

                _telemetry.Applied("delete", deletes.Count);
            }

            var version = Interlocked.Increment(ref _version);
            VectorIndexLog.Applied(_logger, upserts.Count, deletes.Count, version);
            return batch.Count;
        }
        catch
        {
            // Put back what no newer write replaced, so that the next apply retries it.
            lock (_pendingLock)
            {
                foreach (var (key, write) in batch)
                {
                    _pending.TryAdd(key, write);
                }
            }

            throw;
        }
    }

    /// <summary>
    /// Writes each shard's rows. Workaround for the engine: an insert links only to live nodes, so rows written into a graph
    /// whose every node is (or is about to be, by replacement) soft-deleted would end up unreachable. Such a shard (live count
    /// at most the rows it receives) is rebuilt fresh from its remaining live items plus the rows, then swapped in; this only
    /// happens to nearly empty shards, so it is cheap.
    /// </summary>
    private async Task UpsertPerShardAsync(long[] ids, float[] vectors, CancellationToken cancellationToken)
    {
        var dim = Dimension;
        var rows = new List<int>[_shards.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            (rows[_writer.ShardOf(ids[i])] ??= []).Add(i);
        }

        for (var s = 0; s < _shards.Length; s++)
        {
            if (rows[s] is not { Count: > 0 } mine)
            {
                continue;
            }

            var shardIds = new long[mine.Count];
            var shardVectors = new float[mine.Count * dim];
            for (var i = 0; i < mine.Count; i++)
            {
                shardIds[i] = ids[mine[i]];
                vectors.AsSpan(mine[i] * dim, dim).CopyTo(shardVectors.AsSpan(i * dim, dim));
            }

            var shard = _shards[s];
            var current = shard.Index;
            if (current.NodeCount > 0 && current.Count <= mine.Count)
            {
                shard.SwapIndex(await Task.Run(() => FreshIndex(current, shardIds, shardVectors), cancellationToken));
            }
            else
            {
                await shard.UpsertAsync(shardIds, shardVectors, cancellationToken);
            }
        }
    }

    private HnswIndex FreshIndex(HnswIndex current, long[] ids, float[] vectors)
    {
        var dim = Dimension;
        var replaced = ids.ToHashSet();
        var allIds = new List<long>(ids);
        var all = new List<float>(vectors);
        var buffer = new float[dim];
        foreach (var id in current.GetIds())
        {
            if (!replaced.Contains(id) && current.TryGetVector(id, buffer))
            {
                allIds.Add(id);
                all.AddRange(buffer);
            }
        }

        var fresh = new HnswIndex(_options.ToHnsw() with { InitialCapacity = Math.Max(16, allIds.Count) });
        fresh.AddBatch(allIds.ToArray(), all.ToArray());
        return fresh;
    }

    // ------------------------------------------------------------------ reads

    /// <summary>
    /// Sharded top-<paramref name="k"/> for <paramref name="query"/> (<see cref="Dimension"/> floats). Never throws for a
    /// shard's failure or timeout: the result is then partial (<see cref="IndexSearchResult.Degraded"/>).
    /// </summary>
    public async Task<IndexSearchResult> SearchAsync(
        ReadOnlyMemory<float> query,
        int k,
        int efSearch = 0,
        ItemFilter? filter = null,
        IReadOnlySet<long>? excludeKeys = null,
        CancellationToken cancellationToken = default)
    {
        if (query.Length != Dimension)
        {
            throw new ArgumentException($"The query has {query.Length} dimensions, not {Dimension}.", nameof(query));
        }

        using var activity = VectorIndexTelemetry.ActivitySource.StartActivity("vector search");
        activity?.SetTag("recsys.k", k);
        var version = Version;
        SearchFilter? engineFilter = null;
        if (filter is not null || excludeKeys is { Count: > 0 } || !_pendingDeletes.IsEmpty)
        {
            engineFilter = SearchFilter.FromPredicate(key => Allowed(key, filter, excludeKeys));
        }

        var result = await _reader.SearchAsync(query, k, efSearch, engineFilter, cancellationToken: cancellationToken);
        var hits = new List<IndexHit>(result.Hits.Length);
        foreach (var hit in result.Hits)
        {
            // An item deleted while this search ran may still come back from a shard: its map entry is gone, so it is dropped.
            if (_items.TryGet(hit.Id, out var item) && !_pendingDeletes.ContainsKey(hit.Id))
            {
                hits.Add(new IndexHit(item.ItemId, hit.Score, _reader.ShardOf(hit.Id)));
            }
        }

        Volatile.Write(ref _lastCoverage, result.Coverage);
        _telemetry.SearchCompleted(result.Elapsed.TotalMilliseconds, result.Coverage);
        activity?.SetTag("recsys.coverage", result.Coverage);
        if (result.Degraded)
        {
            VectorIndexLog.SearchDegraded(_logger, result.ShardsAnswered, result.ShardsTotal,
                string.Join("; ", result.Failures.Select(f => $"shard {f.ShardId}: {f.Reason}")));
        }

        return new IndexSearchResult(hits, result.ShardsAnswered, result.ShardsTotal, result.Degraded, version, result.Elapsed, result.Failures);
    }

    private bool Allowed(long key, ItemFilter? filter, IReadOnlySet<long>? excludeKeys)
    {
        if (_pendingDeletes.ContainsKey(key) || (excludeKeys is not null && excludeKeys.Contains(key)))
        {
            return false;
        }

        if (filter is null)
        {
            return true;
        }

        return _items.TryGet(key, out var item) && filter.Matches(item.Metadata ?? ItemMetadata.Unknown);
    }

    /// <summary>Copies the indexed vector of <paramref name="itemId"/> (normalized under cosine); false when it is not indexed.</summary>
    public bool TryGetVector(string itemId, Span<float> destination)
    {
        var key = IndexedItems.KeyOf(itemId);
        if (!_items.TryGet(key, out var item) || item.ItemId != itemId || _pendingDeletes.ContainsKey(key))
        {
            return false;
        }

        return _shards[_writer.ShardOf(key)].Index.TryGetVector(key, destination);
    }

    /// <summary>The key an item id maps to (for exclusion sets).</summary>
    public static long KeyOf(string itemId) => IndexedItems.KeyOf(itemId);

    // ------------------------------------------------------------------ rebuild

    /// <summary>Starts a full rebuild in the background unless one is running; returns its status.</summary>
    public RebuildStatus StartRebuild()
    {
        lock (_rebuildLock)
        {
            if (_rebuild.State == RebuildState.Running)
            {
                return _rebuild;
            }

            _rebuild = new RebuildStatus(_rebuild.Id + 1, RebuildState.Running, _time.GetUtcNow(), null, null);
            var id = _rebuild.Id;
            var token = _stopping.Token;
            _rebuildTask = Task.Run(() => RebuildCoreAsync(id, token), CancellationToken.None);
            return _rebuild;
        }
    }

    /// <summary>Starts a rebuild (or joins the running one) and waits for it.</summary>
    public async Task<RebuildStatus> RebuildAsync(CancellationToken cancellationToken = default)
    {
        StartRebuild();
        await RebuildTask.WaitAsync(cancellationToken);
        return Rebuild;
    }

    private async Task RebuildCoreAsync(long id, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        try
        {
            await _gate.WaitAsync(cancellationToken);
            try
            {
                await ApplyCoreAsync(cancellationToken);
                foreach (var shard in _shards)
                {
                    // Each shard builds a compacted copy (soft deletes dropped) and swaps it in; searches go on meanwhile.
                    await shard.RebuildAsync(cancellationToken);
                    Interlocked.Increment(ref _version);
                }

                await RefreshMetadataCoreAsync(cancellationToken);
                lock (_rebuildLock)
                {
                    _lastRebuild = _time.GetUtcNow();
                }

                if (Persistent)
                {
                    await Task.Run(SnapshotCore, cancellationToken);
                }
            }
            finally
            {
                _gate.Release();
            }

            var count = _shards.Sum(s => (long)s.Index.Count);
            VectorIndexLog.RebuildFinished(_logger, count, Version, _time.GetElapsedTime(started).TotalMilliseconds);
            _telemetry.RebuildCompleted("ok");
            SetRebuild(id, RebuildState.Completed, null);
        }
        catch (Exception ex)
        {
            VectorIndexLog.RebuildFailed(_logger, ex);
            _telemetry.RebuildCompleted("failed");
            SetRebuild(id, RebuildState.Failed, ex.GetType().Name + ": " + ex.Message);
        }
    }

    private void SetRebuild(long id, RebuildState state, string? error)
    {
        lock (_rebuildLock)
        {
            _rebuild = _rebuild with { Id = id, State = state, CompletedAt = _time.GetUtcNow(), Error = error };
        }
    }

    // ------------------------------------------------------------------ metadata

    /// <summary>Re-reads the filter metadata of every indexed item (availability and categories change over time).</summary>
    public async Task RefreshMetadataAsync(CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await RefreshMetadataCoreAsync(cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    private Task RefreshMetadataCoreAsync(CancellationToken cancellationToken) =>
        ReadMetadataAsync(_items.Entries.Select(e => e.Value).ToList(), cancellationToken);

    private async Task ReadMetadataAsync(List<IndexedItem> items, CancellationToken cancellationToken)
    {
        if (_metadata is null || items.Count == 0)
        {
            return;
        }

        try
        {
            var metadata = await _metadata.ReadAsync(items.Select(i => i.ItemId).ToList(), cancellationToken);
            for (var i = 0; i < items.Count; i++)
            {
                items[i].Metadata = metadata[i] ?? items[i].Metadata;
            }
        }
        catch (Exception ex) when (ex is OnlineStoreUnavailableException or TimeoutException)
        {
            VectorIndexLog.MetadataUnavailable(_logger, items.Count, ex);
        }
    }

    // ------------------------------------------------------------------ snapshots

    /// <summary>Snapshots every shard now (no-op without a data directory).</summary>
    public async Task SnapshotAsync(CancellationToken cancellationToken = default)
    {
        if (!Persistent)
        {
            return;
        }

        await _gate.WaitAsync(cancellationToken);
        try
        {
            await Task.Run(SnapshotCore, cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Snapshots when the index changed since the last snapshot; true when one was written.</summary>
    public async Task<bool> SnapshotIfChangedAsync(CancellationToken cancellationToken = default)
    {
        if (!Persistent || Version == Interlocked.Read(ref _snapshotIndexVersion))
        {
            return false;
        }

        await SnapshotAsync(cancellationToken);
        return true;
    }

    /// <summary>Under the gate: no apply runs, so each shard's index and its item entries agree.</summary>
    private void SnapshotCore()
    {
        var version = Version;
        var perShard = new List<KeyValuePair<long, IndexedItem>>[_shards.Length];
        for (var i = 0; i < perShard.Length; i++)
        {
            perShard[i] = [];
        }

        foreach (var entry in _items.Entries)
        {
            perShard[_writer.ShardOf(entry.Key)].Add(entry);
        }

        for (var s = 0; s < _shards.Length; s++)
        {
            var store = _stores[s]!;
            var existing = store.List();
            var next = existing.Count == 0 ? 1 : existing[0].Version + 1;
            // The item map goes first: an index file without its map is rejected at load, never the reverse.
            ItemMapFile.Write(ItemMapFile.PathOf(store.Directory, next), version, perShard[s]);
            var written = store.Save(_shards[s].Index);
            if (written != next)
            {
                File.Move(ItemMapFile.PathOf(store.Directory, next), ItemMapFile.PathOf(store.Directory, written), overwrite: true);
            }

            _snapshotVersions[s] = written;
            PruneItemMaps(store);
        }

        Interlocked.Exchange(ref _snapshotIndexVersion, version);
        lock (_rebuildLock)
        {
            _lastSnapshot = _time.GetUtcNow();
        }

        VectorIndexLog.SnapshotsWritten(_logger, _shards.Length, version);
    }

    private static void PruneItemMaps(SnapshotStore store)
    {
        var kept = store.List().Select(v => ItemMapFile.PathOf(store.Directory, v.Version)).ToHashSet(StringComparer.Ordinal);
        foreach (var f in Directory.EnumerateFiles(store.Directory, "items-*.rsim"))
        {
            if (!kept.Contains(f))
            {
                File.Delete(f);
            }
        }
    }

    /// <summary>
    /// Loads, per shard, the newest snapshot whose index and item map both verify; a rejected one is logged, counted and the
    /// previous one tried (the spec's rollback). A shard whose snapshots all fail starts empty and is reported missing.
    /// </summary>
    public async Task LoadAsync(CancellationToken cancellationToken = default)
    {
        if (!Persistent)
        {
            VectorIndexLog.NoDataDirectory(_logger);
            _loaded = true;
            return;
        }

        await _gate.WaitAsync(cancellationToken);
        try
        {
            await Task.Run(LoadCore, cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    private void LoadCore()
    {
        var maxVersion = 0L;
        for (var s = 0; s < _shards.Length; s++)
        {
            var store = _stores[s]!;
            var snapshots = store.List();
            var loaded = false;
            foreach (var (snapshotVersion, path) in snapshots)
            {
                try
                {
                    var mapPath = ItemMapFile.PathOf(store.Directory, snapshotVersion);
                    if (!File.Exists(mapPath))
                    {
                        throw new InvalidDataException($"its item map '{mapPath}' is missing");
                    }

                    var (indexVersion, entries) = ItemMapFile.Read(mapPath);
                    if (entries.Any(e => _writer.ShardOf(e.Key) != s))
                    {
                        throw new InvalidDataException($"it was written for another shard count than {_shards.Length} (re-index after changing Shards)");
                    }

                    var index = HnswSnapshot.Load(path);
                    if (index.Dimension != Dimension)
                    {
                        throw new InvalidDataException($"it has dimension {index.Dimension}, the configuration {Dimension}");
                    }

                    _shards[s].SwapIndex(index);
                    foreach (var (key, item) in entries)
                    {
                        _items.Set(key, item);
                    }

                    _snapshotVersions[s] = snapshotVersion;
                    maxVersion = Math.Max(maxVersion, indexVersion);
                    VectorIndexLog.SnapshotLoaded(_logger, s, snapshotVersion, index.Count, indexVersion);
                    loaded = true;
                    break;
                }
                catch (Exception ex) when (ex is IOException or InvalidDataException or ArgumentException)
                {
                    var reason = ex is SnapshotCorruptedException sc ? sc.Reason : ex.Message;
                    VectorIndexLog.SnapshotRejected(_logger, s, path, reason);
                    _telemetry.SnapshotRejected(s);
                    Interlocked.Increment(ref _snapshotsRejected);
                }
            }

            if (!loaded && snapshots.Count > 0)
            {
                _missing[s] = true;
                VectorIndexLog.ShardMissing(_logger, s);
            }
        }

        // Versions stay monotonic across restarts: continue after the newest loaded one (+1 for the swap).
        var version = Math.Max(Version, maxVersion) + 1;
        Interlocked.Exchange(ref _version, version);
        Interlocked.Exchange(ref _snapshotIndexVersion, version);
        _loaded = true;
    }

    // ------------------------------------------------------------------ status

    public IndexStatus GetStatus()
    {
        var shards = new ShardStatus[_shards.Length];
        for (var i = 0; i < shards.Length; i++)
        {
            var index = _shards[i].Index;
            shards[i] = new ShardStatus(i, _shards[i].Version, index.Count, index.DeletedCount, index.MemoryBytes, _snapshotVersions[i], _missing[i]);
        }

        DateTimeOffset? lastRebuild, lastSnapshot;
        lock (_rebuildLock)
        {
            lastRebuild = _lastRebuild;
            lastSnapshot = _lastSnapshot;
        }

        return new IndexStatus(
            Version,
            Dimension,
            _options.Metric,
            _options.M,
            _options.EfConstruction,
            _options.EfSearch,
            shards,
            shards.Sum(s => (long)s.Vectors),
            shards.Sum(s => (long)s.Deleted),
            shards.Sum(s => s.MemoryBytes),
            PendingWrites,
            Loaded,
            Persistent,
            Rebuild,
            lastRebuild,
            lastSnapshot,
            Volatile.Read(ref _snapshotsRejected));
    }

    /// <summary>Why the index is not fully healthy, or null when it is.</summary>
    internal string? DegradedReason()
    {
        if (!Loaded)
        {
            return "loading snapshots";
        }

        var missing = Enumerable.Range(0, _missing.Length).Where(i => _missing[i]).ToList();
        if (missing.Count > 0)
        {
            return $"shard(s) {string.Join(", ", missing)} missing: no snapshot verified at start";
        }

        var coverage = Volatile.Read(ref _lastCoverage);
        return coverage < 1 ? $"the last search covered {coverage:P0} of the shards" : null;
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
        _gate.Dispose();
    }

    private sealed record PendingWrite(string ItemId, float[]? Vector, long Sequence);
}
