using Qdrant.Client.Grpc;

namespace RecSys.VectorSearch.Qdrant.Tests;

/// <summary>Collections, aliases, points and read-back mapped onto Qdrant.Client's request types: checked without a server.</summary>
public sealed class QdrantCollectionMappingTests
{
    private static readonly QdrantShardOptions DesignCard = new() { CollectionPrefix = "items", Dimension = 256, M = 16, EfConstruction = 200 };

    [Fact]
    public void A_collection_is_created_with_hnsw_16_200_and_pq_x32_kept_in_ram()
    {
        var request = QdrantVectorShard.CreateCollectionRequest("items-shard-0-g1", DesignCard);

        Assert.Equal("items-shard-0-g1", request.CollectionName);
        Assert.Equal(256UL, request.VectorsConfig.Params.Size);
        Assert.Equal(Distance.Cosine, request.VectorsConfig.Params.Distance);
        Assert.Equal(16UL, request.HnswConfig.M);
        Assert.Equal(200UL, request.HnswConfig.EfConstruct);
        var pq = request.QuantizationConfig.Product;
        Assert.Equal(CompressionRatio.X32, pq.Compression);
#pragma warning disable CS0612 // always_ram: read by servers that predate the memory field.
        Assert.True(pq.AlwaysRam);
#pragma warning restore CS0612
        Assert.Null(QdrantVectorShard.CreateCollectionRequest("x", DesignCard with { ProductQuantization = false }).QuantizationConfig);
    }

    [Fact]
    public void Searches_rescore_the_quantized_candidates()
    {
        var p = QdrantVectorShard.SearchParams(DesignCard, 0);

        Assert.True(p.Quantization.Rescore);
        Assert.Equal(2.0, p.Quantization.Oversampling);
        Assert.Equal(100UL, p.HnswEf);
    }

    [Fact]
    public void Shards_are_aliases_over_versioned_collections()
    {
        var collections = new QdrantShardCollections(new global::Qdrant.Client.QdrantClient("localhost"), DesignCard, 4);

        Assert.Equal(["items-shard-0", "items-shard-1", "items-shard-2", "items-shard-3"], collections.Shards.Select(s => s.CollectionName));
        Assert.Equal([0, 1, 2, 3], collections.Shards.Select(s => s.ShardId));
        Assert.Equal("items-shard-2-g7", QdrantShardCollections.VersionedName("items-shard-2", 7));
        Assert.Equal(7, QdrantShardCollections.GenerationOf("items-shard-2", "items-shard-2-g7"));
        Assert.Null(QdrantShardCollections.GenerationOf("items-shard-2", "items-shard-20-g7"));
        Assert.Null(QdrantShardCollections.GenerationOf("items-shard-2", "items-shard-2"));
    }

    [Fact]
    public void A_rebuild_switches_every_alias_in_one_update_delete_then_create()
    {
        var operations = QdrantShardCollections.AliasOperationsFor(
        [
            new("items-shard-0", "items-shard-0-g3", "items-shard-0-g4"),
            new("items-shard-1", "items-shard-1-g3", "items-shard-1-g4"),
        ]);

        Assert.Equal(4, operations.Count);
        Assert.Equal("items-shard-0", operations[0].DeleteAlias.AliasName);
        Assert.Equal(("items-shard-0", "items-shard-0-g4"), (operations[1].CreateAlias.AliasName, operations[1].CreateAlias.CollectionName));
        Assert.Equal("items-shard-1", operations[2].DeleteAlias.AliasName);
        Assert.Equal(("items-shard-1", "items-shard-1-g4"), (operations[3].CreateAlias.AliasName, operations[3].CreateAlias.CollectionName));
    }

    [Fact]
    public void A_new_alias_is_only_created()
    {
        var operation = Assert.Single(QdrantShardCollections.AliasOperationsFor([new("items-shard-0", null, "items-shard-0-g1")]));

        Assert.Equal(AliasOperations.ActionOneofCase.CreateAlias, operation.ActionCase);
    }

    [Fact]
    public void Points_carry_our_id_unsigned_the_vector_and_the_payload()
    {
        var point = QdrantVectorShard.PointOf(-2, [1f, 2f], new ItemPayload("c1", ["sport", "news"], false) { ItemId = "item-9" });

        Assert.Equal(unchecked((ulong)-2L), point.Id.Num);
        Assert.Equal([1f, 2f], point.Vectors.Vector.Dense.Data);
        Assert.Equal("item-9", point.Payload[QdrantVectorShard.ItemIdField].StringValue);
        Assert.Equal("c1", point.Payload[QdrantVectorShard.CreatorField].StringValue);
        Assert.Equal(["sport", "news"], point.Payload[QdrantVectorShard.CategoriesField].ListValue.Values.Select(v => v.StringValue));
        Assert.False(point.Payload[QdrantVectorShard.AvailableField].BoolValue);
        Assert.Empty(QdrantVectorShard.PointOf(1, [1f], null).Payload);
    }

    [Fact]
    public void A_retrieved_point_maps_back_to_our_id_vector_and_item_id()
    {
        var retrieved = new RetrievedPoint
        {
            Id = unchecked((ulong)-5L),
            Vectors = new VectorsOutput { Vector = new VectorOutput { Dense = new DenseVector { Data = { 0.6f, 0.8f } } } },
        };
        retrieved.Payload.Add(QdrantVectorShard.ItemIdField, "item-5");

        var stored = QdrantShardCollections.StoredPointOf(retrieved);

        Assert.Equal(-5, stored.Id);
        Assert.Equal([0.6f, 0.8f], stored.Vector);
        Assert.Equal("item-5", stored.ItemId);
        Assert.Null(QdrantShardCollections.StoredPointOf(new RetrievedPoint { Id = 1UL }).ItemId);
    }
}
