namespace RecSys.VectorSearch.Qdrant.Tests;

/// <summary>
/// What every <see cref="IVectorShard"/> must do, whatever stores the vectors. A backend derives from this class and says how
/// to create an empty shard (and may skip every case when its server is absent).
/// </summary>
public abstract class VectorShardContract : IAsyncLifetime
{
    protected const int Dim = 8;

    private readonly List<IVectorShard> _created = [];

    /// <summary>An empty shard of <paramref name="dimension"/> (cosine).</summary>
    protected abstract Task<IVectorShard> CreateShardAsync(int dimension);

    /// <summary>Called at the start of every case: a backend without its server skips here.</summary>
    protected virtual void SkipIfUnavailable()
    {
    }

    protected virtual Task DropAsync(IVectorShard shard) => Task.CompletedTask;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var shard in _created)
        {
            await DropAsync(shard);
        }
    }

    private async Task<IVectorShard> ShardAsync(int dimension = Dim)
    {
        SkipIfUnavailable();
        var shard = await CreateShardAsync(dimension);
        _created.Add(shard);
        return shard;
    }

    protected static float[] Axis(int axis, float noise = 0, int seed = 0)
    {
        var random = new Random(seed);
        var v = new float[Dim];
        v[axis % Dim] = 1;
        for (var i = 0; i < Dim; i++)
        {
            v[i] += noise * (float)((random.NextDouble() * 2) - 1);
        }

        return v;
    }

    /// <summary>20 points: id i near axis i % 8.</summary>
    protected static (long[] Ids, float[] Vectors) Points(int count = 20)
    {
        var ids = new long[count];
        var vectors = new float[count * Dim];
        for (var i = 0; i < count; i++)
        {
            ids[i] = 1000 + i;
            Axis(i, 0.05f, seed: i).CopyTo(vectors, i * Dim);
        }

        return (ids, vectors);
    }

    [SkippableFact]
    public async Task Upsert_then_search_finds_the_point()
    {
        var shard = await ShardAsync();
        var (ids, vectors) = Points();
        await shard.UpsertAsync(ids, vectors);

        var result = await shard.SearchAsync(vectors.AsMemory(3 * Dim, Dim), new ShardSearchRequest(3));

        Assert.Equal(1003, result.Hits[0].Id);
        Assert.Equal(1f, result.Hits[0].Score, 2);
        Assert.True(result.Hits.Zip(result.Hits.Skip(1)).All(p => p.First.Score >= p.Second.Score));
        Assert.Equal(20, await shard.CountAsync());
        Assert.Equal(shard.ShardId, result.ShardId);
    }

    [SkippableFact]
    public async Task Upsert_of_an_existing_id_replaces_its_vector()
    {
        var shard = await ShardAsync();
        var (ids, vectors) = Points();
        await shard.UpsertAsync(ids, vectors);
        var versionBefore = shard.Version;

        await shard.UpsertAsync(new long[] { 1000 }, Axis(5));

        var hits = (await shard.SearchAsync(Axis(5), new ShardSearchRequest(20))).Hits;
        Assert.Equal(20, await shard.CountAsync());
        Assert.Contains(hits.Take(4), h => h.Id == 1000);
        Assert.True(shard.Version > versionBefore);
    }

    [SkippableFact]
    public async Task Delete_removes_the_point_from_every_later_search()
    {
        var shard = await ShardAsync();
        var (ids, vectors) = Points();
        await shard.UpsertAsync(ids, vectors);

        var deleted = await shard.DeleteAsync(new long[] { 1004, 1012, 99_999 });

        Assert.Equal(2, deleted);
        var hits = (await shard.SearchAsync(Axis(4), new ShardSearchRequest(20))).Hits;
        Assert.DoesNotContain(hits, h => h.Id is 1004 or 1012);
        Assert.Equal(18, hits.Length);
        Assert.Equal(18, await shard.CountAsync());
    }

    [SkippableFact]
    public async Task An_allowed_id_filter_is_respected()
    {
        var shard = await ShardAsync();
        var (ids, vectors) = Points();
        await shard.UpsertAsync(ids, vectors);
        var allowed = new HashSet<long> { 1001, 1009, 1017 };

        var hits = (await shard.SearchAsync(Axis(1), new ShardSearchRequest(10, Filter: SearchFilter.FromAllowedIds(allowed)))).Hits;

        Assert.Equal(allowed.Order(), hits.Select(h => h.Id).Order());
    }

    [SkippableFact]
    public async Task A_predicate_filter_is_respected()
    {
        var shard = await ShardAsync();
        var (ids, vectors) = Points();
        await shard.UpsertAsync(ids, vectors);

        var hits = (await shard.SearchAsync(Axis(2), new ShardSearchRequest(5, Filter: SearchFilter.FromPredicate(id => id % 2 == 1)))).Hits;

        Assert.NotEmpty(hits);
        Assert.All(hits, h => Assert.Equal(1, h.Id % 2));
    }

    [SkippableFact]
    public async Task At_most_k_hits_are_returned()
    {
        var shard = await ShardAsync();
        var (ids, vectors) = Points();
        await shard.UpsertAsync(ids, vectors);

        Assert.Equal(7, (await shard.SearchAsync(Axis(0), new ShardSearchRequest(7))).Hits.Length);
        Assert.Equal(20, (await shard.SearchAsync(Axis(0), new ShardSearchRequest(100))).Hits.Length);
        Assert.Empty((await shard.SearchAsync(Axis(0), new ShardSearchRequest(0))).Hits);
    }

    [SkippableFact]
    public async Task Vectors_of_the_wrong_dimension_are_rejected()
    {
        var shard = await ShardAsync();
        await shard.UpsertAsync(new long[] { 1 }, Axis(0));

        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await shard.UpsertAsync(new long[] { 2 }, new float[Dim - 1]));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await shard.UpsertAsync(new long[] { 2, 3 }, new float[Dim]));
        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await shard.SearchAsync(new float[Dim + 1], new ShardSearchRequest(1)));
        Assert.Equal(Dim, shard.Dimension);
        Assert.Equal(1, await shard.CountAsync());
    }

    [SkippableFact]
    public async Task Searching_an_empty_shard_returns_nothing()
    {
        var shard = await ShardAsync();

        Assert.Empty((await shard.SearchAsync(Axis(0), new ShardSearchRequest(5))).Hits);
        Assert.Equal(0, await shard.CountAsync());
    }
}

/// <summary>The embedded shard: always runs.</summary>
public sealed class LocalVectorShardContractTests : VectorShardContract
{
    protected override Task<IVectorShard> CreateShardAsync(int dimension) =>
        Task.FromResult<IVectorShard>(new LocalVectorShard(3, new HnswOptions { Dimension = dimension, EfConstruction = 64 }));
}
