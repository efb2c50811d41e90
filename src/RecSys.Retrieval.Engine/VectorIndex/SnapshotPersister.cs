using RecSys.Retrieval.Diagnostics;
using RecSys.VectorSearch;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>
/// Snapshots every in-process shard with its item map (<see cref="ItemMapFile"/>) under
/// <c>{DataDirectory}/vector-index/shard-{n}</c>. At load, each shard takes its newest pair that verifies and rolls back to
/// the previous one otherwise (the spec's rollback); a shard whose snapshots all fail starts empty and is reported missing.
/// </summary>
internal sealed class SnapshotPersister : IIndexPersistence
{
    private readonly EmbeddedShardSet _shards;
    private readonly IndexedItems _items;
    private readonly IndexVersion _version;
    private readonly int _dimension;
    private readonly TimeProvider _time;
    private readonly RetrievalTelemetry _telemetry;
    private readonly ILogger _logger;
    private readonly SnapshotStore[]? _stores;
    private readonly long?[] _snapshotVersions;
    private readonly bool[] _missing;
    private long _persistedIndexVersion;
    private int _snapshotsRejected;
    private DateTimeOffset? _lastSnapshot;
    private volatile bool _loaded;

    public SnapshotPersister(
        EmbeddedShardSet shards,
        IndexedItems items,
        IndexVersion version,
        VectorIndexOptions options,
        TimeProvider time,
        RetrievalTelemetry telemetry,
        ILogger logger)
    {
        _shards = shards;
        _items = items;
        _version = version;
        _dimension = options.Dimensions;
        _time = time;
        _telemetry = telemetry;
        _logger = logger;
        _snapshotVersions = new long?[shards.Count];
        _missing = new bool[shards.Count];
        if (!string.IsNullOrWhiteSpace(options.DataDirectory))
        {
            _stores = [.. Enumerable.Range(0, shards.Count).Select(i =>
                new SnapshotStore(Path.Combine(options.DataDirectory, "vector-index", $"shard-{i}"), options.SnapshotsRetained))];
        }
    }

    public bool Persistent => _stores is not null;

    public bool Loaded => _loaded || !Persistent;

    public string LoadingReason => "loading snapshots";

    public long PersistedIndexVersion => Interlocked.Read(ref _persistedIndexVersion);

    public DateTimeOffset? LastSnapshot
    {
        get
        {
            lock (_snapshotVersions)
            {
                return _lastSnapshot;
            }
        }
    }

    public int SnapshotsRejected => Volatile.Read(ref _snapshotsRejected);

    public long? SnapshotVersionOf(int shard) => _snapshotVersions[shard];

    public bool IsMissing(int shard) => _missing[shard];

    public Task SaveAsync(CancellationToken cancellationToken) =>
        Persistent ? Task.Run(Save, cancellationToken) : Task.CompletedTask;

    public Task LoadAsync(CancellationToken cancellationToken)
    {
        if (!Persistent)
        {
            VectorIndexLog.NoDataDirectory(_logger);
            _loaded = true;
            return Task.CompletedTask;
        }

        return Task.Run(Load, cancellationToken);
    }

    /// <summary>The caller holds the gate: no apply runs, so each shard's index and its item entries agree.</summary>
    private void Save()
    {
        var version = _version.Current;
        var perShard = new List<KeyValuePair<long, IndexedItem>>[_shards.Count];
        for (var i = 0; i < perShard.Length; i++)
        {
            perShard[i] = [];
        }

        foreach (var entry in _items.Entries)
        {
            perShard[_shards.ShardOf(entry.Key)].Add(entry);
        }

        for (var s = 0; s < _shards.Count; s++)
        {
            var store = _stores![s];
            var existing = store.List();
            var next = existing.Count == 0 ? 1 : existing[0].Version + 1;
            // The item map goes first: an index file without its map is rejected at load, never the reverse.
            ItemMapFile.Write(ItemMapFile.PathOf(store.Directory, next), version, perShard[s]);
            var written = store.Save(_shards.Shards[s].Index);
            if (written != next)
            {
                File.Move(ItemMapFile.PathOf(store.Directory, next), ItemMapFile.PathOf(store.Directory, written), overwrite: true);
            }

            _snapshotVersions[s] = written;
            PruneItemMaps(store);
        }

        Interlocked.Exchange(ref _persistedIndexVersion, version);
        lock (_snapshotVersions)
        {
            _lastSnapshot = _time.GetUtcNow();
        }

        VectorIndexLog.SnapshotsWritten(_logger, _shards.Count, version);
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

    private void Load()
    {
        var maxVersion = 0L;
        for (var s = 0; s < _shards.Count; s++)
        {
            var store = _stores![s];
            var snapshots = store.List();
            var loaded = false;
            foreach (var (snapshotVersion, path) in snapshots)
            {
                try
                {
                    var indexVersion = LoadPair(s, store, snapshotVersion, path);
                    maxVersion = Math.Max(maxVersion, indexVersion);
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

        Interlocked.Exchange(ref _persistedIndexVersion, _version.ContinueAfter(maxVersion));
        _loaded = true;
    }

    /// <summary>Loads one snapshot pair into shard <paramref name="s"/>; returns the index version it was written at.</summary>
    private long LoadPair(int s, SnapshotStore store, long snapshotVersion, string path)
    {
        var mapPath = ItemMapFile.PathOf(store.Directory, snapshotVersion);
        if (!File.Exists(mapPath))
        {
            throw new InvalidDataException($"its item map '{mapPath}' is missing");
        }

        var (indexVersion, entries) = ItemMapFile.Read(mapPath);
        if (entries.Any(e => _shards.ShardOf(e.Key) != s))
        {
            throw new InvalidDataException($"it was written for another shard count than {_shards.Count} (re-index after changing Shards)");
        }

        var index = HnswSnapshot.Load(path);
        if (index.Dimension != _dimension)
        {
            throw new InvalidDataException($"it has dimension {index.Dimension}, the configuration {_dimension}");
        }

        _shards.Shards[s].SwapIndex(index);
        foreach (var (key, item) in entries)
        {
            _items.Set(key, item);
        }

        _snapshotVersions[s] = snapshotVersion;
        VectorIndexLog.SnapshotLoaded(_logger, s, snapshotVersion, index.Count, indexVersion);
        return indexVersion;
    }
}
