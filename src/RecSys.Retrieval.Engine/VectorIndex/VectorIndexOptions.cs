using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using RecSys.VectorSearch;
using RecSys.VectorSearch.Qdrant;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>
/// Configuration section <c>Retrieval:VectorIndex</c>: the sharded ANN index of item embeddings (the design's ANN index management)
/// and the collaborative source that searches it. Snapshots go under <c>Retrieval:DataDirectory</c> (<see cref="DataDirectory"/>).
/// </summary>
public sealed class VectorIndexOptions
{
    public const string SectionName = "Retrieval:VectorIndex";

    /// <summary>Configuration key of the directory that holds snapshots (set by the AppHost as <c>Retrieval__DataDirectory</c>).</summary>
    public const string DataDirectoryKey = "Retrieval:DataDirectory";

    /// <summary>Name of the connection string of Qdrant (gRPC endpoint); when it is set the backend defaults to Qdrant.</summary>
    public const string QdrantConnectionName = "qdrant";

    public const string EmbeddedBackendName = "embedded";

    public const string QdrantBackendName = "qdrant";

    /// <summary>Largest batch of the write endpoints.</summary>
    public const int MaxBatch = 10_000;

    /// <summary>Largest k of a search.</summary>
    public const int MaxK = 10_000;

    /// <summary>
    /// Where the shards live. Null: <see cref="VectorIndexBackend.Qdrant"/> when <c>ConnectionStrings:qdrant</c> is set
    /// (containers mode), else <see cref="VectorIndexBackend.Embedded"/>.
    /// </summary>
    public VectorIndexBackend? Backend { get; set; }

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

    /// <summary>
    /// Threads that insert a batch into a shard's graph (-1: all cores). Parallel inserts make the graph depend on thread
    /// timing; 1 makes it depend on the data alone (same vectors, same graph, same answers).
    /// </summary>
    [Range(-1, 1024)]
    public int BuildThreads { get; set; } = -1;

    /// <summary>Queued adds, updates and deletes are applied this often (incremental update), and on demand.</summary>
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
    /// collaborative source's timeout (Retrieval:SourceTimeout, 100 ms), so that a slow shard degrades the source instead of failing it.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:01:00")]
    public TimeSpan PerShardTimeout { get; set; } = TimeSpan.FromMilliseconds(80);

    /// <summary>
    /// Embedded backend: search the in-process shards one after the other on the request's thread rather than one
    /// thread-pool work item each (see <see cref="ScatterGatherOptions.InlineLocalShards"/>): fewer thread switches, a
    /// serial search. Off by default: no CPU saving showed in the measurements (docs/ranking-serving-benchmarks.md,
    /// "Retrieval cost, second pass"). The deadline is then checked between shards.
    /// </summary>
    public bool InlineShardSearch { get; set; }

    /// <summary>
    /// Embedded backend: a shard answers with an exact scan of its full-precision vectors instead of the HNSW walk when it
    /// holds at most <see cref="ExactScanMaxVectorBytes"/> of vectors or when the search's beam (max(ef, the per-shard k)) is
    /// at least <see cref="ExactScanMinBeamFraction"/> of its nodes (see <see cref="ExactScanOptions"/>). Qdrant shards plan
    /// for themselves (its <c>full_scan_threshold</c>).
    /// </summary>
    public bool ExactScan { get; set; } = true;

    /// <summary>Shards with at most this many bytes of vectors are always scanned (see <see cref="ExactScan"/>).</summary>
    [Range(0L, long.MaxValue)]
    public long ExactScanMaxVectorBytes { get; set; } = new ExactScanOptions().MaxVectorBytes;

    /// <summary>At d = 16, a shard is scanned when the beam is at least this fraction of its nodes, scaled by (d / 16)^0.75 (see <see cref="ExactScan"/>).</summary>
    [Range(0.0, 1000.0)]
    public double ExactScanMinBeamFraction { get; set; } = new ExactScanOptions().MinBeamFraction;

    /// <summary>Directory of snapshots; bound from <see cref="DataDirectoryKey"/>. Empty: the index lives in memory only.</summary>
    public string? DataDirectory { get; set; }

    [Required]
    [ValidateObjectMembers]
    public CollaborativeOptions Collaborative { get; set; } = new();

    /// <summary>How a new embedding version (or a full rebuild) is built, checked and swapped in.</summary>
    [Required]
    [ValidateObjectMembers]
    public ActivationOptions Activation { get; set; } = new();

    /// <summary>Settings of the Qdrant backend (ignored by the embedded one).</summary>
    [Required]
    [ValidateObjectMembers]
    public QdrantBackendOptions Qdrant { get; set; } = new();

    internal QdrantShardOptions ToQdrant() => new()
    {
        CollectionPrefix = Qdrant.CollectionPrefix,
        Dimension = Dimensions,
        Metric = Metric,
        M = M,
        EfConstruction = EfConstruction,
        EfSearch = EfSearch,
        ProductQuantization = true,
        PqCodeBytes = Qdrant.PqCodeBytes,
        RescoreOversampling = Qdrant.RescoreOversampling,
        PredicateOversampling = Qdrant.FilterOversampling,
    };

    internal ExactScanOptions ToExactScan() => ExactScan
        ? new ExactScanOptions { MaxVectorBytes = ExactScanMaxVectorBytes, MinBeamFraction = ExactScanMinBeamFraction }
        : ExactScanOptions.Disabled;

    internal HnswOptions ToHnsw() => new()
    {
        Dimension = Dimensions,
        Metric = Metric,
        M = M,
        EfConstruction = EfConstruction,
        EfSearch = EfSearch,
        MaxDegreeOfParallelism = BuildThreads == 0 ? -1 : BuildThreads,
    };
}

/// <summary>The data annotations of <see cref="VectorIndexOptions"/> and its nested sections, checked by generated code.</summary>
[OptionsValidator]
public sealed partial class VectorIndexOptionsValidator : IValidateOptions<VectorIndexOptions>;

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

/// <summary>
/// Section <c>Retrieval:VectorIndex:Activation</c>: the index is rebuilt from an embedding version's item vectors read back
/// from the store in batches, into new shards off the query path, and swapped in only when its recall@10 on a sample of
/// those vectors (each a query, itself excluded), against brute force at the serving ef, reaches <see cref="MinRecall"/>.
/// </summary>
public sealed class ActivationOptions
{
    /// <summary>Neighbours compared per query (recall@K).</summary>
    public const int RecallK = 10;

    /// <summary>Least recall@10 of the rebuilt index for it to be swapped in.</summary>
    [Range(0.0, 1.0)]
    public double MinRecall { get; set; } = 0.95;

    /// <summary>Item vectors used as recall queries (fewer when the version has fewer items).</summary>
    [Range(1, 100_000)]
    public int RecallSampleSize { get; set; } = 200;

    /// <summary>Item vectors read from the store per batch (the spec's 10,000).</summary>
    [Range(1, 100_000)]
    public int ReadBatchSize { get; set; } = 10_000;

    /// <summary>Embedding versions kept after an activation (the active one always among them); older ones are deleted.</summary>
    [Range(1, 100)]
    public int VersionsRetained { get; set; } = 3;
}

/// <summary>Where the index's shards live.</summary>
public enum VectorIndexBackend
{
    /// <summary>In-process HNSW shards, snapshotted under the data directory.</summary>
    Embedded = 0,

    /// <summary>One Qdrant collection per shard (RecSys.VectorSearch.Qdrant), reached through <c>ConnectionStrings:qdrant</c>.</summary>
    Qdrant = 1,
}

/// <summary>Section <c>Retrieval:VectorIndex:Qdrant</c>: collections, quantization and search of the Qdrant backend.</summary>
public sealed class QdrantBackendOptions
{
    /// <summary>Shard n is the alias <c>{CollectionPrefix}-shard-{n}</c> over a versioned collection.</summary>
    [Required]
    [RegularExpression("^[a-z0-9][a-z0-9-]{0,62}$", ErrorMessage = "CollectionPrefix must be lower-case letters, digits and dashes.")]
    public string CollectionPrefix { get; set; } = "recsys-items";

    /// <summary>Bytes of product-quantization codes per vector; Qdrant's nearest compression ratio is used (256 dimensions: x32).</summary>
    [Range(1, 4096)]
    public int PqCodeBytes { get; set; } = 32;

    /// <summary>Candidates fetched from the quantized index per wanted hit before the exact rescore.</summary>
    [Range(1.0, 16.0)]
    public double RescoreOversampling { get; set; } = 2.0;

    /// <summary>Metadata filters and exclusions run in-process: each shard returns this many times k before filtering.</summary>
    [Range(1, 64)]
    public int FilterOversampling { get; set; } = 4;

    /// <summary>Deadline of one gRPC call (writes, collection and alias operations); searches have the per-shard deadline.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
