using Qdrant.Client.Grpc;

namespace RecSys.VectorSearch.Qdrant;

/// <summary>
/// How the shards map onto Qdrant: shard n is addressed as <c>{CollectionPrefix}-shard-{n}</c> (a collection, or an alias
/// over a versioned collection when managed by <see cref="QdrantShardCollections"/>), with the same HNSW and PQ settings as ours.
/// </summary>
public sealed record QdrantShardOptions
{
    public string CollectionPrefix { get; init; } = "recsys-items";

    public int Dimension { get; init; } = 256;

    public Metric Metric { get; init; } = Metric.Cosine;

    public int M { get; init; } = 16;

    public int EfConstruction { get; init; } = 200;

    public int EfSearch { get; init; } = 100;

    /// <summary>Product quantization of the stored vectors (kept in RAM, full vectors used to rescore).</summary>
    public bool ProductQuantization { get; init; } = true;

    /// <summary>Bytes of PQ codes wanted per vector (ours: 32 segments of 8 bits); the nearest Qdrant compression ratio is used.</summary>
    public int PqCodeBytes { get; init; } = 32;

    /// <summary>Candidates fetched per wanted hit from the quantized index before the exact rescore.</summary>
    public double RescoreOversampling { get; init; } = 2.0;

    /// <summary>
    /// A <see cref="SearchFilter.Predicate"/> cannot be sent to Qdrant: that many times k hits are fetched and filtered here
    /// (so a very selective predicate can return fewer than k). Allowed-id sets and payload filters are pushed down instead.
    /// </summary>
    public int PredicateOversampling { get; init; } = 4;

    public string CollectionName(int shardId) => $"{CollectionPrefix}-shard-{shardId}";

    /// <summary>
    /// Qdrant's PQ compression is a ratio of the float32 size (dimension x 4 bytes). The supported ratio nearest (in log scale)
    /// to <c>dimension x 4 / codeBytes</c>: 256 dimensions at 32 bytes give x32, 128 dimensions give x16.
    /// </summary>
    public static CompressionRatio CompressionFor(int dimension, int codeBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(codeBytes, 1);
        var wanted = Math.Log2(dimension * 4.0 / codeBytes);
        (CompressionRatio Ratio, double Log2)[] supported =
        [
            (CompressionRatio.X4, 2), (CompressionRatio.X8, 3), (CompressionRatio.X16, 4), (CompressionRatio.X32, 5), (CompressionRatio.X64, 6),
        ];
        return supported.MinBy(s => Math.Abs(s.Log2 - wanted)).Ratio;
    }

    /// <summary>Bytes per vector of the codes at <see cref="CompressionFor"/>'s ratio.</summary>
    public static int CodeBytesAt(int dimension, CompressionRatio ratio) => dimension * 4 / (1 << ((int)ratio + 2));
}
