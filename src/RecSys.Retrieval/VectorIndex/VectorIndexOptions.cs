using System.ComponentModel.DataAnnotations;
using RecSys.VectorSearch;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>
/// Configuration section <c>Retrieval:VectorIndex</c>: the sharded ANN index of item embeddings (the spec's ANNIndexManager)
/// and the collaborative source that searches it. Snapshots go under <c>Retrieval:DataDirectory</c> (<see cref="DataDirectory"/>).
/// </summary>
public sealed class VectorIndexOptions
{
    public const string SectionName = "Retrieval:VectorIndex";

    /// <summary>Configuration key of the directory that holds snapshots (set by the AppHost as <c>Retrieval__DataDirectory</c>).</summary>
    public const string DataDirectoryKey = "Retrieval:DataDirectory";

    /// <summary>Largest batch of the write endpoints.</summary>
    public const int MaxBatch = 10_000;

    /// <summary>Largest k of a search.</summary>
    public const int MaxK = 10_000;

    /// <summary>Items are spread over this many shards by a hash of their id.</summary>
    [Range(1, 64)]
    public int Shards { get; set; } = 4;

    [Range(1, 4096)]
    public int Dimensions { get; set; } = 256;

    public Metric Metric { get; set; } = Metric.Cosine;

    [Range(2, 256)]
    public int M { get; set; } = 16;

    [Range(1, 10_000)]
    public int EfConstruction { get; set; } = 200;

    [Range(1, 10_000)]
    public int EfSearch { get; set; } = 100;

    /// <summary>Queued adds, updates and deletes are applied this often (the spec's incremental_update), and on demand.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan IncrementalPeriod { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>A write through the API of at most this many items is applied at once; larger ones wait for the next period.</summary>
    [Range(0, MaxBatch)]
    public int ImmediateApplyMaxItems { get; set; } = 1000;

    /// <summary>Every shard is snapshotted this often when it changed (and after every rebuild).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan SnapshotPeriod { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Snapshots kept per shard (at least 2, so that a corrupt newest one can be rolled back).</summary>
    [Range(2, 100)]
    public int SnapshotsRetained { get; set; } = 2;

    /// <summary>
    /// A shard that has not answered a search within this time is left out (partial results, coverage below 1). Below the
    /// collaborative source's timeout (Retrieval:SourceTimeoutMs, 100 ms), so that a slow shard degrades the source instead of failing it.
    /// </summary>
    [Range(1, 60_000)]
    public int PerShardTimeoutMs { get; set; } = 80;

    /// <summary>Directory of snapshots; bound from <see cref="DataDirectoryKey"/>. Empty: the index lives in memory only.</summary>
    public string? DataDirectory { get; set; }

    public CollaborativeOptions Collaborative { get; set; } = new();

    internal HnswOptions ToHnsw() => new()
    {
        Dimension = Dimensions,
        Metric = Metric,
        M = M,
        EfConstruction = EfConstruction,
        EfSearch = EfSearch,
    };
}

/// <summary>User embedding resolution of the collaborative source (the spec's two-level embedding: base + session).</summary>
public sealed class CollaborativeOptions
{
    /// <summary>Weight of the base embedding when the user also has a session embedding (the session gets 1 - this).</summary>
    [Range(0.0, 1.0)]
    public double BaseWeight { get; set; } = 0.7;

    /// <summary>Most recent items of <c>u:{user}:recent</c> averaged into the session embedding.</summary>
    [Range(1, 1000)]
    public int SessionItems { get; set; } = 10;

    /// <summary>A recent item's weight halves for every this much time it is older than the newest one.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "365.00:00:00")]
    public TimeSpan SessionHalfLife { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long a resolved user embedding is reused.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan CacheDuration { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Users whose embedding is cached at most.</summary>
    [Range(0, 10_000_000)]
    public int CacheSize { get; set; } = 100_000;

    /// <summary>Beam width of the collaborative search (0: the index default; k is the source's budget).</summary>
    [Range(0, 10_000)]
    public int EfSearch { get; set; }
}
