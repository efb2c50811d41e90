using Qdrant.Client;

namespace RecSys.VectorSearch.Qdrant.Tests;

/// <summary>Where the Qdrant tests find their server: <c>RECSYS_QDRANT_URL</c> (gRPC, e.g. http://localhost:6334).</summary>
internal static class QdrantServer
{
    public const string Variable = "RECSYS_QDRANT_URL";

    public static string? Url => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } url ? url : null;

    public static void SkipIfAbsent() =>
        Skip.If(Url is null, $"{Variable} is not set: no Qdrant server to run the Qdrant adapter's contract tests against (set it to the gRPC URL, e.g. http://localhost:6334).");

    public static QdrantClient Client() => new(new Uri(Url!));

    public static QdrantShardOptions Options(int dimension) => new()
    {
        CollectionPrefix = "recsys-test-" + Guid.NewGuid().ToString("N")[..12],
        Dimension = dimension,
        EfConstruction = 64,
        // PQ needs enough points to train; the contract's 20 points are searched exactly.
        ProductQuantization = false,
    };
}

/// <summary>The same contract against Qdrant; every case is reported skipped when <c>RECSYS_QDRANT_URL</c> is not set.</summary>
public sealed class QdrantVectorShardContractTests : VectorShardContract
{
    protected override void SkipIfUnavailable() => QdrantServer.SkipIfAbsent();

    protected override async Task<IVectorShard> CreateShardAsync(int dimension)
    {
        var shard = new QdrantVectorShard(QdrantServer.Client(), 3, QdrantServer.Options(dimension));
        await shard.EnsureCollectionAsync();
        return shard;
    }

    protected override Task DropAsync(IVectorShard shard) => ((QdrantVectorShard)shard).DropAsync();
}

/// <summary>Qdrant-only behaviour: payload filters pushed down to the server.</summary>
public sealed class QdrantPayloadTests
{
    [SkippableFact]
    public async Task Payload_filters_select_by_creator_category_and_availability()
    {
        QdrantServer.SkipIfAbsent();
        var shard = new QdrantVectorShard(QdrantServer.Client(), 0, QdrantServer.Options(4));
        await shard.EnsureCollectionAsync();
        try
        {
            float[] vectors = [1, 0, 0, 0, 0.9f, 0.1f, 0, 0, 0.8f, 0.2f, 0, 0];
            await shard.UpsertAsync(new long[] { 1, 2, 3 }, vectors,
            [
                new ItemPayload("c1", ["music", "news"], true),
                new ItemPayload("c2", ["sport"], true),
                new ItemPayload("c1", ["sport"], false),
            ]);
            float[] query = [1, 0, 0, 0];

            async Task<long[]> Ids(PayloadFilter filter) =>
                [.. (await shard.SearchAsync(query, new ShardSearchRequest(10), filter)).Hits.Select(h => h.Id).Order()];

            Assert.Equal(new long[] { 2, 3 }, await Ids(new PayloadFilter(Categories: ["sport"])));
            Assert.Equal(new long[] { 1, 3 }, await Ids(new PayloadFilter(Creators: ["c1"])));
            Assert.Equal(new long[] { 1, 2 }, await Ids(new PayloadFilter(AvailableOnly: true)));
            Assert.Equal(new long[] { 1 }, await Ids(new PayloadFilter(Creators: ["c1"], AvailableOnly: true)));
        }
        finally
        {
            await shard.DropAsync();
        }
    }
}
