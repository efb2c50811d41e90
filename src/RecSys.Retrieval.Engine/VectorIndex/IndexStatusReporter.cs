namespace RecSys.Retrieval.VectorIndex;

/// <summary>Assembles the index status (per shard and in total) and says why the index is not fully healthy.</summary>
internal sealed class IndexStatusReporter(
    VectorIndexOptions options,
    IIndexShardSet shards,
    IIndexPersistence persistence,
    IndexRebuilder rebuilder,
    ShardedSearcher searcher,
    PendingWriteQueue queue,
    IndexVersion version)
{
    public IndexStatus GetStatus()
    {
        var perShard = new ShardStatus[shards.Count];
        for (var i = 0; i < perShard.Length; i++)
        {
            var counts = shards.CountsOf(i);
            perShard[i] = new ShardStatus(i, counts.Version, counts.Vectors, counts.Deleted, counts.MemoryBytes,
                persistence.SnapshotVersionOf(i), persistence.IsMissing(i));
        }

        return new IndexStatus(
            version.Current,
            options.Dimensions,
            options.Metric,
            options.M,
            options.EfConstruction,
            options.EfSearch,
            perShard,
            perShard.Sum(s => (long)s.Vectors),
            perShard.Sum(s => (long)s.Deleted),
            perShard.Sum(s => s.MemoryBytes),
            queue.Count,
            persistence.Loaded,
            persistence.Persistent,
            rebuilder.Status,
            rebuilder.LastCompleted,
            persistence.LastSnapshot,
            persistence.SnapshotsRejected)
        {
            Backend = shards.Backend,
        };
    }

    /// <summary>Why the index is not fully healthy, or null when it is.</summary>
    public string? DegradedReason()
    {
        if (!persistence.Loaded)
        {
            return persistence.LoadingReason;
        }

        var missing = Enumerable.Range(0, shards.Count).Where(persistence.IsMissing).ToList();
        if (missing.Count > 0)
        {
            return $"shard(s) {string.Join(", ", missing)} missing: no snapshot verified at start";
        }

        var coverage = searcher.LastCoverage;
        return coverage < 1 ? $"the last search covered {coverage:P0} of the shards" : null;
    }
}
