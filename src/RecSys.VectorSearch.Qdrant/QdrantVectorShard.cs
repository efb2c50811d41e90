using Qdrant.Client;
using Qdrant.Client.Grpc;

namespace RecSys.VectorSearch.Qdrant;

/// <summary>What a Qdrant point carries besides its vector: the payload fields filters use, and the caller's item id.</summary>
public sealed record ItemPayload(string? Creator, IReadOnlyList<string> Categories, bool Available)
{
    /// <summary>The caller's string id of the point (stored as <c>item_id</c>, read back at load).</summary>
    public string? ItemId { get; init; }
}

/// <summary>A filter on payload fields, pushed down to Qdrant (categories: any of; creators: one of; available: true).</summary>
public sealed record PayloadFilter(IReadOnlyList<string>? Categories = null, IReadOnlyList<string>? Creators = null, bool AvailableOnly = false);

/// <summary>
/// <see cref="IVectorShard"/> over one Qdrant collection (<see cref="QdrantShardOptions.CollectionName"/>): HNSW m and
/// ef_construct and product quantization from our options, payload fields <c>creator</c>, <c>categories</c> and
/// <c>available</c> indexed for filters. Ids are our longs reinterpreted as Qdrant's unsigned 64-bit point ids. Scores are
/// Qdrant's (cosine similarity or dot product: higher is better, as ours). Unverified here: no Qdrant server runs on the build
/// machine; the contract suite runs against it when <c>RECSYS_QDRANT_URL</c> is set.
/// </summary>
public sealed class QdrantVectorShard : IVectorShard
{
    public const string CreatorField = "creator";
    public const string CategoriesField = "categories";
    public const string AvailableField = "available";
    public const string ItemIdField = "item_id";

    private readonly QdrantClient _client;
    private readonly QdrantShardOptions _options;
    private long _version;

    public QdrantVectorShard(QdrantClient client, int shardId, QdrantShardOptions options)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        _client = client;
        _options = options;
        ShardId = shardId;
        CollectionName = options.CollectionName(shardId);
    }

    public int ShardId { get; }

    public string CollectionName { get; }

    public long Version => Interlocked.Read(ref _version);

    public int Dimension => _options.Dimension;

    /// <summary>Creates the collection and its payload indexes when absent.</summary>
    public async Task EnsureCollectionAsync(CancellationToken cancellationToken = default)
    {
        if (await _client.CollectionExistsAsync(CollectionName, cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        await CreateCollectionAsync(_client, CollectionName, _options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Creates a collection with our settings and the payload indexes filters use.</summary>
    internal static async Task CreateCollectionAsync(QdrantClient client, string name, QdrantShardOptions options, CancellationToken cancellationToken)
    {
        await client.CreateCollectionAsync(CreateCollectionRequest(name, options), cancellationToken).ConfigureAwait(false);
        await client.CreatePayloadIndexAsync(name, CreatorField, PayloadSchemaType.Keyword, cancellationToken: cancellationToken).ConfigureAwait(false);
        await client.CreatePayloadIndexAsync(name, CategoriesField, PayloadSchemaType.Keyword, cancellationToken: cancellationToken).ConfigureAwait(false);
        await client.CreatePayloadIndexAsync(name, AvailableField, PayloadSchemaType.Bool, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    public ValueTask UpsertAsync(ReadOnlyMemory<long> ids, ReadOnlyMemory<float> vectors, CancellationToken cancellationToken = default) =>
        UpsertAsync(ids, vectors, payloads: null, cancellationToken);

    /// <summary>Upserts points with their payloads (<paramref name="payloads"/>: one per id, or null for none).</summary>
    public async ValueTask UpsertAsync(ReadOnlyMemory<long> ids, ReadOnlyMemory<float> vectors, IReadOnlyList<ItemPayload>? payloads, CancellationToken cancellationToken = default)
    {
        var dim = _options.Dimension;
        if (vectors.Length != (long)ids.Length * dim)
        {
            throw new ArgumentException($"Vector dimension mismatch: expected {ids.Length * dim} floats, got {vectors.Length}.", nameof(vectors));
        }

        if (payloads is not null && payloads.Count != ids.Length)
        {
            throw new ArgumentException($"{payloads.Count} payloads for {ids.Length} ids.", nameof(payloads));
        }

        if (ids.Length == 0)
        {
            return;
        }

        var points = new List<PointStruct>(ids.Length);
        for (var i = 0; i < ids.Length; i++)
        {
            points.Add(PointOf(ids.Span[i], vectors.Span.Slice(i * dim, dim), payloads?[i]));
        }

        await _client.UpsertAsync(CollectionName, points, wait: true, cancellationToken: cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _version);
    }

    public async ValueTask<int> DeleteAsync(ReadOnlyMemory<long> ids, CancellationToken cancellationToken = default)
    {
        if (ids.Length == 0)
        {
            return 0;
        }

        var pointIds = new List<PointId>(ids.Length);
        foreach (var id in ids.Span)
        {
            pointIds.Add(PointIdOf(id));
        }

        var present = await _client.RetrieveAsync(CollectionName, pointIds, withPayload: false, withVectors: false, cancellationToken: cancellationToken)
            .ConfigureAwait(false);
        await _client.DeleteAsync(CollectionName, pointIds, wait: true, cancellationToken: cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _version);
        return present.Count;
    }

    public ValueTask<ShardSearchResult> SearchAsync(ReadOnlyMemory<float> query, ShardSearchRequest request, CancellationToken cancellationToken = default) =>
        SearchAsync(query, request, payloadFilter: null, cancellationToken);

    /// <summary>A search with an optional payload filter pushed down to Qdrant (combined with the request's id filter).</summary>
    public async ValueTask<ShardSearchResult> SearchAsync(
        ReadOnlyMemory<float> query,
        ShardSearchRequest request,
        PayloadFilter? payloadFilter,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfNegative(request.K);
        if (query.Length != _options.Dimension)
        {
            throw new ArgumentException($"Vector dimension mismatch: expected {_options.Dimension}, got {query.Length}.", nameof(query));
        }

        var version = Version;
        if (request.K == 0)
        {
            return new ShardSearchResult(ShardId, version, []);
        }

        var predicate = request.Filter is { AllowedIds: null, Predicate: { } p } ? p : null;
        var limit = predicate is null ? request.K : request.K * Math.Max(1, _options.PredicateOversampling);
        var points = await _client.QueryAsync(
            CollectionName,
            query: query.ToArray(),
            filter: BuildFilter(request.Filter, payloadFilter),
            searchParams: SearchParams(_options, request.Ef),
            limit: (ulong)limit,
            payloadSelector: false,
            cancellationToken: cancellationToken).ConfigureAwait(false);

        var hits = new List<SearchHit>(Math.Min(points.Count, request.K));
        foreach (var point in points)
        {
            var id = unchecked((long)point.Id.Num);
            if (predicate is null || predicate(id))
            {
                hits.Add(new SearchHit(id, point.Score));
                if (hits.Count == request.K)
                {
                    break;
                }
            }
        }

        return new ShardSearchResult(ShardId, version, [.. hits]);
    }

    public async ValueTask<long> CountAsync(CancellationToken cancellationToken = default) =>
        (long)await _client.CountAsync(CollectionName, exact: true, cancellationToken: cancellationToken).ConfigureAwait(false);

    /// <summary>Deletes the collection (tests, or a shard being retired).</summary>
    public async Task DropAsync(CancellationToken cancellationToken = default)
    {
        if (await _client.CollectionExistsAsync(CollectionName, cancellationToken).ConfigureAwait(false))
        {
            await _client.DeleteCollectionAsync(CollectionName, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    internal static PointId PointIdOf(long id) => unchecked((ulong)id);

    /// <summary>A point: our long as Qdrant's unsigned id, the vector, and the payload fields that are known.</summary>
    internal static PointStruct PointOf(long id, ReadOnlySpan<float> vector, ItemPayload? payload)
    {
        var point = new PointStruct { Id = PointIdOf(id), Vectors = vector.ToArray() };
        if (payload is null)
        {
            return point;
        }

        if (payload.Creator is not null)
        {
            point.Payload[CreatorField] = payload.Creator;
        }

        if (payload.ItemId is not null)
        {
            point.Payload[ItemIdField] = payload.ItemId;
        }

        point.Payload[CategoriesField] = payload.Categories.ToArray();
        point.Payload[AvailableField] = payload.Available;
        return point;
    }

    /// <summary>The request that creates one collection: vectors, HNSW, product quantization (see the options).</summary>
    internal static CreateCollection CreateCollectionRequest(string name, QdrantShardOptions o)
    {
        var request = new CreateCollection
        {
            CollectionName = name,
            VectorsConfig = new VectorsConfig { Params = VectorParams(o) },
            HnswConfig = HnswConfig(o),
        };
        if (Quantization(o) is { } quantization)
        {
            request.QuantizationConfig = quantization;
        }

        return request;
    }

    internal static VectorParams VectorParams(QdrantShardOptions o) => new()
    {
        Size = (ulong)o.Dimension,
        Distance = o.Metric == Metric.Cosine ? Distance.Cosine : Distance.Dot,
    };

    internal static HnswConfigDiff HnswConfig(QdrantShardOptions o) => new()
    {
        M = (ulong)o.M,
        EfConstruct = (ulong)o.EfConstruction,
    };

    internal static QuantizationConfig? Quantization(QdrantShardOptions o) => o.ProductQuantization
        ? new QuantizationConfig
        {
            Product = new ProductQuantization
            {
                Compression = QdrantShardOptions.CompressionFor(o.Dimension, o.PqCodeBytes),
                Memory = Memory.Pinned,
#pragma warning disable CS0612 // always_ram is deprecated in favour of memory (which overrides it); servers older than the field still read it.
                AlwaysRam = true,
#pragma warning restore CS0612
            },
        }
        : null;

    internal static SearchParams SearchParams(QdrantShardOptions o, int ef)
    {
        var p = new SearchParams { HnswEf = (ulong)(ef > 0 ? ef : o.EfSearch) };
        if (o.ProductQuantization)
        {
            p.Quantization = new QuantizationSearchParams { Rescore = true, Oversampling = o.RescoreOversampling };
        }

        return p;
    }

    /// <summary>Allowed ids become a HasId condition; payload parts become keyword/bool matches; all must hold.</summary>
    internal static Filter? BuildFilter(SearchFilter? ids, PayloadFilter? payload)
    {
        var filter = new Filter();
        if (ids?.AllowedIds is { } allowed)
        {
            filter.Must.Add(Conditions.HasId(allowed.Select(id => unchecked((ulong)id)).ToList()));
        }

        if (payload?.Categories is { } categories)
        {
            filter.Must.Add(Conditions.Match(CategoriesField, categories));
        }

        if (payload?.Creators is { } creators)
        {
            filter.Must.Add(Conditions.Match(CreatorField, creators));
        }

        if (payload is { AvailableOnly: true })
        {
            filter.Must.Add(Conditions.Match(AvailableField, true));
        }

        return filter.Must.Count == 0 ? null : filter;
    }
}
