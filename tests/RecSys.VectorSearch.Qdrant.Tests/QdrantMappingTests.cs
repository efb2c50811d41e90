using Qdrant.Client.Grpc;

namespace RecSys.VectorSearch.Qdrant.Tests;

/// <summary>How our options become Qdrant requests: checked without a server.</summary>
public sealed class QdrantMappingTests
{
    [Theory]
    [InlineData(256, 32, CompressionRatio.X32, 32)]
    [InlineData(128, 32, CompressionRatio.X16, 32)]
    [InlineData(512, 32, CompressionRatio.X64, 32)]
    [InlineData(256, 64, CompressionRatio.X16, 64)]
    [InlineData(64, 32, CompressionRatio.X8, 32)]
    public void Compression_matches_the_wanted_code_bytes(int dimension, int codeBytes, CompressionRatio expected, int expectedBytes)
    {
        var ratio = QdrantShardOptions.CompressionFor(dimension, codeBytes);

        Assert.Equal(expected, ratio);
        Assert.Equal(expectedBytes, QdrantShardOptions.CodeBytesAt(dimension, ratio));
    }

    [Fact]
    public void Collection_hnsw_and_quantization_follow_our_options()
    {
        var o = new QdrantShardOptions { CollectionPrefix = "items", Dimension = 256, M = 16, EfConstruction = 200, EfSearch = 100 };

        Assert.Equal("items-shard-2", o.CollectionName(2));
        var vectors = QdrantVectorShard.VectorParams(o);
        Assert.Equal(256UL, vectors.Size);
        Assert.Equal(Distance.Cosine, vectors.Distance);
        Assert.Equal(Distance.Dot, QdrantVectorShard.VectorParams(o with { Metric = Metric.InnerProduct }).Distance);
        var hnsw = QdrantVectorShard.HnswConfig(o);
        Assert.Equal(16UL, hnsw.M);
        Assert.Equal(200UL, hnsw.EfConstruct);
        var pq = QdrantVectorShard.Quantization(o)!.Product;
        Assert.Equal(CompressionRatio.X32, pq.Compression);
        Assert.Equal(Memory.Pinned, pq.Memory);
        Assert.Null(QdrantVectorShard.Quantization(o with { ProductQuantization = false }));
        Assert.Equal(100UL, QdrantVectorShard.SearchParams(o, 0).HnswEf);
        Assert.Equal(300UL, QdrantVectorShard.SearchParams(o, 300).HnswEf);
        Assert.True(QdrantVectorShard.SearchParams(o, 0).Quantization.Rescore);
    }

    [Fact]
    public void Filters_become_must_conditions()
    {
        Assert.Null(QdrantVectorShard.BuildFilter(null, null));
        Assert.Null(QdrantVectorShard.BuildFilter(SearchFilter.FromPredicate(_ => true), new PayloadFilter()));

        var filter = QdrantVectorShard.BuildFilter(
            SearchFilter.FromAllowedIds(new HashSet<long> { 5, -1 }),
            new PayloadFilter(["sport"], ["c1", "c2"], AvailableOnly: true))!;

        Assert.Equal(4, filter.Must.Count);
        Assert.Equal([5UL, ulong.MaxValue], filter.Must[0].HasId.HasId.Select(p => p.Num).Order());
        Assert.Equal(QdrantVectorShard.CategoriesField, filter.Must[1].Field.Key);
        Assert.Equal(["sport"], filter.Must[1].Field.Match.Keywords.Strings);
        Assert.Equal(QdrantVectorShard.CreatorField, filter.Must[2].Field.Key);
        Assert.Equal(QdrantVectorShard.AvailableField, filter.Must[3].Field.Key);
        Assert.True(filter.Must[3].Field.Match.Boolean);
    }
}
