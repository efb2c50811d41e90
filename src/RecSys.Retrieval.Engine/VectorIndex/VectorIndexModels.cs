using RecSys.FeatureStore.Serving;
using RecSys.VectorSearch;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>Restricts a search to items whose metadata matches every given part.</summary>
/// <param name="Categories">The item has at least one of these categories (null: any).</param>
/// <param name="Creators">The item's creator is one of these (null: any).</param>
/// <param name="AvailableOnly">The item is available.</param>
public sealed record ItemFilter(IReadOnlySet<string>? Categories, IReadOnlySet<string>? Creators, bool AvailableOnly)
{
    public bool Matches(ItemMetadata metadata)
    {
        if (AvailableOnly && !metadata.Available)
        {
            return false;
        }

        if (Creators is not null && (metadata.Creator is null || !Creators.Contains(metadata.Creator)))
        {
            return false;
        }

        if (Categories is not null)
        {
            foreach (var c in metadata.Categories)
            {
                if (Categories.Contains(c))
                {
                    return true;
                }
            }

            return false;
        }

        return true;
    }
}

/// <summary>
/// One search hit: item id, similarity (higher is better) and the shard that holds it. A struct: a collaborative search
/// returns ~2,500 of them per request, and as objects they were ~70 KiB of each request's allocation.
/// </summary>
public readonly record struct IndexHit(string ItemId, float Score, int Shard)
{
    /// <summary>The index's key of <see cref="ItemId"/> (<see cref="IndexedItems.KeyOf"/>); 0 when the hit did not say.</summary>
    public long Key { get; init; }
}

/// <summary>Merged top-k of a sharded search, how much of the index answered, and the index version it ran against.</summary>
public sealed record IndexSearchResult(
    IReadOnlyList<IndexHit> Hits,
    int ShardsAnswered,
    int ShardsTotal,
    bool Degraded,
    long IndexVersion,
    TimeSpan Elapsed,
    IReadOnlyList<ShardFailure> Failures)
{
    public double Coverage => ShardsTotal == 0 ? 0 : ShardsAnswered / (double)ShardsTotal;

    /// <summary>The embedding version of the vectors searched (empty: the unversioned store of before the first activation).</summary>
    public string EmbeddingVersion { get; init; } = string.Empty;
}

/// <summary>What became of a write batch.</summary>
/// <param name="Accepted">Items queued (after rejections).</param>
/// <param name="Applied">True when the batch is already visible to searches.</param>
/// <param name="Pending">Writes waiting for the next incremental update.</param>
/// <param name="Rejected">Item ids refused (an id hash collision).</param>
/// <param name="IndexVersion">Live index version after the call.</param>
public sealed record IndexWriteResult(int Accepted, bool Applied, int Pending, IReadOnlyList<string> Rejected, long IndexVersion);

public enum RebuildState
{
    Idle = 0,
    Running = 1,
    Completed = 2,
    Failed = 3,
}

/// <summary>State of the latest full rebuild.</summary>
public sealed record RebuildStatus(long Id, RebuildState State, DateTimeOffset? StartedAt, DateTimeOffset? CompletedAt, string? Error)
{
    public static readonly RebuildStatus Idle = new(0, RebuildState.Idle, null, null, null);
}

/// <summary>One shard in <see cref="IndexStatus"/>.</summary>
/// <param name="SnapshotVersion">Version of the newest snapshot written or loaded (null: none).</param>
/// <param name="Missing">True when its snapshots all failed verification at start (it started empty).</param>
public sealed record ShardStatus(int ShardId, long Version, int Vectors, int Deleted, long MemoryBytes, long? SnapshotVersion, bool Missing);

/// <summary>The index as a whole.</summary>
public sealed record IndexStatus(
    long Version,
    int Dimension,
    Metric Metric,
    int M,
    int EfConstruction,
    int EfSearch,
    IReadOnlyList<ShardStatus> Shards,
    long Vectors,
    long Deleted,
    long MemoryBytes,
    int PendingWrites,
    bool Loaded,
    bool Persistent,
    RebuildStatus Rebuild,
    DateTimeOffset? LastRebuild,
    DateTimeOffset? LastSnapshot,
    int SnapshotsRejected)
{
    /// <summary>Where the shards live: "embedded" (in-process HNSW, snapshots) or "qdrant" (one collection per shard).</summary>
    public string Backend { get; init; } = VectorIndexOptions.EmbeddedBackendName;
}
