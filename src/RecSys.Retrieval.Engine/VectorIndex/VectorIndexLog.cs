namespace RecSys.Retrieval.VectorIndex;

internal static partial class VectorIndexLog
{
    [LoggerMessage(EventId = 3000, Level = LogLevel.Error, Message = "Snapshot {Path} of shard {Shard} rejected ({Reason}); rolling back to the previous one")]
    public static partial void SnapshotRejected(ILogger logger, int shard, string path, string reason);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Shard {Shard} loaded snapshot {SnapshotVersion}: {Count} vectors, index version {IndexVersion}")]
    public static partial void SnapshotLoaded(ILogger logger, int shard, long snapshotVersion, int count, long indexVersion);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Error, Message = "Shard {Shard} has snapshots but none verifies; it starts empty and the index is degraded")]
    public static partial void ShardMissing(ILogger logger, int shard);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Information, Message = "Snapshots written for {Shards} shards at index version {Version}")]
    public static partial void SnapshotsWritten(ILogger logger, int shards, long version);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "Rebuild finished: {Count} vectors, index version {Version}, {ElapsedMs:0} ms")]
    public static partial void RebuildFinished(ILogger logger, long count, long version, double elapsedMs);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Error, Message = "Rebuild failed")]
    public static partial void RebuildFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Warning, Message = "Item metadata could not be read from the online store; filters treat {Count} items as unknown until the next refresh")]
    public static partial void MetadataUnavailable(ILogger logger, int count, Exception exception);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Warning, Message = "Vector search degraded: {Answered} of {Total} shards answered ({Failures})")]
    public static partial void SearchDegraded(ILogger logger, int answered, int total, string failures);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Error, Message = "Item id {ItemId} collides with {Other} on key {Key}; it is not indexed")]
    public static partial void IdCollision(ILogger logger, string itemId, string other, long key);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Warning, Message = "Index maintenance ({Task}) failed; retrying at the next period")]
    public static partial void MaintenanceFailed(ILogger logger, string task, Exception exception);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Warning, Message = "Retrieval:DataDirectory is not set: the vector index lives in memory only and is lost at restart")]
    public static partial void NoDataDirectory(ILogger logger);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Debug, Message = "Applied {Upserts} upserts and {Deletes} deletes; index version {Version}")]
    public static partial void Applied(ILogger logger, int upserts, int deletes, long version);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Information, Message = "Item map read back from Qdrant: {Count} items ({Skipped} points without an item id skipped), index version {Version}")]
    public static partial void QdrantLoaded(ILogger logger, int count, int skipped, long version);

    [LoggerMessage(EventId = 3013, Level = LogLevel.Information, Message = "Vector index backend: {Backend}, {Shards} shards")]
    public static partial void BackendChosen(ILogger logger, string backend, int shards);

    [LoggerMessage(EventId = 3020, Level = LogLevel.Information, Message = "Embedding version '{Version}' activated: {Items} items, recall@10 {Recall:0.000} on {Queries} queries (min {MinRecall}), {ElapsedMs:0} ms")]
    public static partial void Activated(ILogger logger, string version, int items, double recall, int queries, double minRecall, double elapsedMs);

    [LoggerMessage(EventId = 3021, Level = LogLevel.Warning, Message = "Embedding version '{Version}' rejected, the previous index keeps serving: {Reason}")]
    public static partial void ActivationRejected(ILogger logger, string version, string reason);

    [LoggerMessage(EventId = 3022, Level = LogLevel.Error, Message = "Activation of embedding version '{Version}' failed; the previous index keeps serving")]
    public static partial void ActivationFailed(ILogger logger, string version, Exception exception);

    [LoggerMessage(EventId = 3023, Level = LogLevel.Warning, Message = "Old embedding versions could not be pruned; retrying after the next activation")]
    public static partial void PruneFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 3024, Level = LogLevel.Warning, Message = "The active embedding version could not be read at load; the index is labelled unversioned until the next activation")]
    public static partial void EmbeddingVersionUnknown(ILogger logger, Exception exception);
}
