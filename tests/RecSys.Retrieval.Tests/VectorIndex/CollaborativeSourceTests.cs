using RecSys.Core.Domain;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.Serving;
using RecSys.Retrieval.Sources;
using RecSys.Retrieval.VectorIndex;
using RecSys.VectorSearch;
using StackExchange.Redis;
using static RecSys.Retrieval.Tests.VectorIndex.VectorIndexTestSupport;

namespace RecSys.Retrieval.Tests.VectorIndex;

[Collection(VectorStoreCollection.Name)]
public sealed class CollaborativeSourceTests : IDisposable
{
    private const int Dim = 8;
    private readonly VectorStoreFixture _store;
    private readonly VectorIndexOptions _options = Options(dimensions: Dim);
    private readonly VectorIndexManager _index;

    public CollaborativeSourceTests(VectorStoreFixture store)
    {
        _store = store;
        _store.Garnet.Flush();
        _index = Manager(_options);
    }

    public void Dispose() => _index.Dispose();

    /// <summary>Cluster k: 30 items near axis k (ids "c{k}-{i}").</summary>
    private async Task AddClustersAsync(VectorIndexManager index, params int[] axes)
    {
        var random = new Random(8);
        await index.AddAsync([.. axes.SelectMany(axis => Enumerable.Range(0, 30).Select(i => ($"c{axis}-{i:D2}", Near(axis, random, Dim, noise: 0.2))))]);
    }

    private CollaborativeSource Source(VectorIndexManager index, VectorIndexOptions options)
    {
        var o = Microsoft.Extensions.Options.Options.Create(options);
        var resolver = new UserEmbeddingResolver(new CandidateSignalReader(_store.Garnet.Connection), new EmbeddingStore(_store.Garnet.Connection), index, o, TimeProvider.System);
        return new CollaborativeSource(new CandidateSignalReader(_store.Garnet.Connection), resolver, index, o);
    }

    private void Recent(string user, params string[] items)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        _store.Db.SortedSetAdd(OnlineKeys.UserRecent(user), [.. items.Select((item, i) => new SortedSetEntry(item, now - (i * 60_000)))]);
    }

    [Fact]
    public async Task Session_only_users_get_items_near_their_recent_items()
    {
        await AddClustersAsync(_index, 0, 1, 2);
        Recent("u1", "c1-00", "c1-01", "c1-02");

        var items = await Source(_index, _options).RetrieveAsync(Store.Request("u1"), 20, CancellationToken.None);

        Assert.Equal(20, items.Count);
        Assert.All(items, i => Assert.StartsWith("c1-", i.ItemId));
        Assert.DoesNotContain(items, i => i.ItemId is "c1-00" or "c1-01" or "c1-02");
        Assert.All(items, i => Assert.InRange(i.Score, 0, 1));
        Assert.True(items.Zip(items.Skip(1)).All(p => p.First.Score >= p.Second.Score));
        Assert.Equal(SourceNames.Collaborative, Source(_index, _options).Name);
    }

    [Fact]
    public async Task Seen_items_are_skipped_in_the_search_so_the_budget_is_filled_with_unseen_ones()
    {
        await AddClustersAsync(_index, 0, 1);
        var baseVector = new float[Dim];
        baseVector[1] = 1;
        await new EmbeddingStore(_store.Garnet.Connection).SetUsersAsync(EmbeddingKeys.Unversioned, [("u5", baseVector)], CancellationToken.None);
        var seen = Enumerable.Range(0, 20).Select(i => $"c1-{i:D2}").ToArray();
        _store.Db.SetAdd(OnlineKeys.UserSeen("u5"), [.. seen.Select(s => (RedisValue)s)]);

        var items = await Source(_index, _options).RetrieveAsync(Store.Request("u5"), 10, CancellationToken.None);

        // Cluster 1 has 30 items and 20 are seen: the 10 others fill the budget, none of them seen.
        Assert.Equal(10, items.Count);
        Assert.Empty(items.Select(i => i.ItemId).Intersect(seen));
        Assert.All(items, i => Assert.StartsWith("c1-", i.ItemId));
    }

    [Fact]
    public async Task The_base_embedding_weighs_more_than_the_session()
    {
        await AddClustersAsync(_index, 0, 1);
        Recent("u2", "c0-00", "c0-01");
        var baseVector = new float[Dim];
        baseVector[1] = 1;
        await new EmbeddingStore(_store.Garnet.Connection).SetUsersAsync(EmbeddingKeys.Unversioned, [("u2", baseVector)], CancellationToken.None);

        var items = await Source(_index, _options).RetrieveAsync(Store.Request("u2"), 10, CancellationToken.None);

        // 0.7 x axis 1 + 0.3 x axis 0: cluster 1 comes first.
        Assert.All(items, i => Assert.StartsWith("c1-", i.ItemId));
    }

    [Fact]
    public async Task A_base_embedding_alone_is_enough_and_exclusions_are_skipped()
    {
        await AddClustersAsync(_index, 0, 3);
        var baseVector = new float[Dim];
        baseVector[3] = 1;
        await new EmbeddingStore(_store.Garnet.Connection).SetUsersAsync(EmbeddingKeys.Unversioned, [("u3", baseVector)], CancellationToken.None);
        var request = Store.Request("u3") with { Exclude = new HashSet<string> { "c3-00", "c3-01" } };

        var items = await Source(_index, _options).RetrieveAsync(request, 30, CancellationToken.None);

        Assert.Equal(30, items.Count);
        Assert.Equal(28, items.Count(i => i.ItemId.StartsWith("c3-", StringComparison.Ordinal)));
        Assert.DoesNotContain(items, i => i.ItemId is "c3-00" or "c3-01");
    }

    [Fact]
    public async Task A_user_with_neither_base_nor_session_gets_nothing()
    {
        await AddClustersAsync(_index, 0);
        Recent("u4", "not-indexed");

        var items = await Source(_index, _options).RetrieveAsync(Store.Request("u4"), 10, CancellationToken.None);

        Assert.Empty(items);
    }

    [Fact]
    public async Task A_stalled_shard_leaves_a_partial_answer_and_degrades_the_index()
    {
        var options = Options(dimensions: Dim);
        options.PerShardTimeout = TimeSpan.FromMilliseconds(100);
        using var index = Manager(options, decorate: s => s.ShardId == 0 ? new StalledShard(s) : s);
        await AddClustersAsync(index, 2);
        Recent("u5", "c2-00");

        var items = await Source(index, options).RetrieveAsync(Store.Request("u5"), 10, CancellationToken.None);

        Assert.NotEmpty(items);
        Assert.All(items, i => Assert.NotEqual(0, ShardRouter.ShardOf(VectorIndexManager.KeyOf(i.ItemId), 4)));
        Assert.NotNull(index.DegradedReason());
    }

    [Fact]
    public void Cosine_scores_map_to_the_unit_interval()
    {
        var scored = CollaborativeSource.Normalize([new IndexHit("a", 1, 0), new IndexHit("b", 0, 1), new IndexHit("c", -1, 2)], Metric.Cosine);

        Assert.Equal([1.0, 0.5, 0.0], scored.Select(s => s.Score));
        var ip = CollaborativeSource.Normalize([new IndexHit("a", 4, 0), new IndexHit("b", 1, 1), new IndexHit("c", -2, 2)], Metric.InnerProduct);
        Assert.Equal([1.0, 0.25, 0.0], ip.Select(s => s.Score));
    }

    [Fact]
    public void Normalized_hits_carry_the_index_keys_of_their_ids()
    {
        var scored = CollaborativeSource.Normalize(
            [new IndexHit("a", 1, 0) { Key = IndexedItems.KeyOf("a") }, new IndexHit("b", 0, 1)], Metric.Cosine);

        Assert.Equal([IndexedItems.KeyOf("a"), IndexedItems.KeyOf("b")], KeyedScoredItems.KeysOf(scored));
        Assert.Equal([IndexedItems.KeyOf("x")], KeyedScoredItems.KeysOf([new Candidates.ScoredItem("x", 1)]));
    }
}
