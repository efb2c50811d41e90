namespace RecSys.Retrieval.VectorIndex;

/// <summary>
/// How the index survives a restart: snapshots of the in-process shards, or the Qdrant collections themselves (then the
/// item map is read back from them at load). Save and load are called one at a time (the manager's gate).
/// </summary>
internal interface IIndexPersistence
{
    /// <summary>False when nothing survives a restart (no data directory).</summary>
    bool Persistent { get; }

    /// <summary>True once <see cref="LoadAsync"/> has run (or when there is nothing to load).</summary>
    bool Loaded { get; }

    /// <summary>What the index waits for until <see cref="Loaded"/> (the health check's reason).</summary>
    string LoadingReason { get; }

    /// <summary>The index version the persisted state holds (a save is needed when the live version differs).</summary>
    long PersistedIndexVersion { get; }

    DateTimeOffset? LastSnapshot { get; }

    int SnapshotsRejected { get; }

    long? SnapshotVersionOf(int shard);

    /// <summary>True when the shard had persisted state at start but none of it verified (it started empty).</summary>
    bool IsMissing(int shard);

    Task SaveAsync(CancellationToken cancellationToken);

    Task LoadAsync(CancellationToken cancellationToken);
}
