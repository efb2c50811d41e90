namespace RecSys.Retrieval.VectorIndex;

/// <summary>
/// Persistence of the Qdrant backend: Qdrant keeps the points (every write waits for it), so saving has nothing to do; at
/// load the collections and aliases are created when missing and the item map is read back from the points' payloads.
/// </summary>
internal sealed class QdrantIndexLoader(QdrantShardSet shards, IndexedItems items, IndexVersion version, ILogger logger) : IIndexPersistence
{
    private volatile bool _loaded;

    public bool Persistent => true;

    public bool Loaded => _loaded;

    public string LoadingReason => "reading the item map from Qdrant";

    /// <summary>Always the live version: Qdrant holds every applied write.</summary>
    public long PersistedIndexVersion => version.Current;

    public DateTimeOffset? LastSnapshot => null;

    public int SnapshotsRejected => 0;

    public long? SnapshotVersionOf(int shard) => null;

    public bool IsMissing(int shard) => false;

    public Task SaveAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        var skipped = await shards.LoadAsync(items, cancellationToken);
        var loaded = version.ContinueAfter(0);
        VectorIndexLog.QdrantLoaded(logger, items.Count, skipped, loaded);
        _loaded = true;
    }
}
