using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using RecSys.Core.Contracts;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.Serving;
using RecSys.Retrieval.Apis;
using RecSys.Retrieval.VectorIndex;
using StackExchange.Redis;
using static RecSys.Retrieval.Tests.VectorIndex.VectorIndexTestSupport;

namespace RecSys.Retrieval.Tests.VectorIndex;

/// <summary>The /v1/index API on a minimal app that calls AddVectorIndex and MapVectorIndexApi, against a real Garnet.</summary>
[Collection(VectorStoreCollection.Name)]
public sealed class VectorIndexApiTests(VectorStoreFixture store) : IAsyncLifetime
{
    private readonly TempDirectory _dir = new();
    private WebApplication _app = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        store.Garnet.Flush();
        _app = await StartAppAsync(store.Garnet, _dir.Path);
        _client = _app.GetTestClient();
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _dir.Dispose();
    }

    private static string Vec(params float[] v) => "[" + string.Join(',', v.Select(x => x.ToString("R", CultureInfo.InvariantCulture))) + "]";

    private static readonly string Ok8 = Vec(1, 0, 0, 0, 0, 0, 0, 0);

    private static string WithFilter(string filter) => "{\"vector\":" + Ok8 + ",\"filter\":" + filter + "}";

    private static string TooMany(string field, string entry) =>
        $$"""{"{{field}}":[{{string.Join(',', Enumerable.Repeat(entry, VectorIndexOptions.MaxBatch + 1))}}]}""";

    public static TheoryData<string, string, string, string> InvalidRequests => new()
    {
        { "PUT", "/v1/index/items", $$"""{"items":[{"itemId":"a","vector":[1,2,3]}]}""", "items[0].vector" },
        { "PUT", "/v1/index/items", """{"items":[{"itemId":"a","vector":[1,2,3,4,5,6,7,1e39]}]}""", "" },
        { "PUT", "/v1/index/items", """{"items":[{"itemId":"a","vector":[1,2,3,4,5,6,7,NaN]}]}""", "" },
        { "PUT", "/v1/index/items", """{"items":[{"itemId":"a","vector":[1,2,3,4,5,6,7,"NaN"]}]}""", "" },
        { "PUT", "/v1/index/items", $$"""{"items":[{"itemId":"bad id!","vector":{{Ok8}}}]}""", "items[0].itemId" },
        { "PUT", "/v1/index/items", $$"""{"items":[{"vector":{{Ok8}}}]}""", "items[0].itemId" },
        { "PUT", "/v1/index/items", """{"items":[{"itemId":"a"}]}""", "items[0].vector" },
        { "PUT", "/v1/index/items", """{"items":[]}""", "items" },
        { "PUT", "/v1/index/items", TooMany("items", $$"""{"itemId":"a","vector":{{Ok8}}}"""), "items" },
        { "PUT", "/v1/index/items", """{"items":[{"itemId":"a","vector":[1,2""", "" },
        { "DELETE", "/v1/index/items", """{"itemIds":["ok","not ok"]}""", "itemIds[1]" },
        { "DELETE", "/v1/index/items", """{"itemIds":[]}""", "itemIds" },
        { "DELETE", "/v1/index/items", TooMany("itemIds", "\"a\""), "itemIds" },
        { "POST", "/v1/index/search", $$"""{"vector":{{Ok8}},"k":0}""", "k" },
        { "POST", "/v1/index/search", $$"""{"vector":{{Ok8}},"k":10001}""", "k" },
        { "POST", "/v1/index/search", $$"""{"vector":{{Ok8}},"k":-5}""", "k" },
        { "POST", "/v1/index/search", $$"""{"vector":{{Ok8}},"efSearch":0}""", "efSearch" },
        { "POST", "/v1/index/search", """{"vector":[1,0,0],"k":10}""", "vector" },
        { "POST", "/v1/index/search", """{"k":10}""", "vector" },
        { "POST", "/v1/index/search", WithFilter("""{"category":["x"]}"""), "filter.category" },
        { "POST", "/v1/index/search", WithFilter("""{"categories":["x"],"price":3}"""), "filter.price" },
        { "POST", "/v1/index/search", WithFilter("""{"availableOnly":"yes"}"""), "filter.availableOnly" },
        { "POST", "/v1/index/search", WithFilter("""{"creators":"c1"}"""), "filter.creators" },
        { "POST", "/v1/index/search", WithFilter("""[1]"""), "filter" },
        { "PUT", "/v1/index/users", """{"users":[{"userId":"u1","vector":[1]}]}""", "users[0].vector" },
        { "PUT", "/v1/index/users", $$"""{"users":[{"userId":"u 1","vector":{{Ok8}}}]}""", "users[0].userId" },
        { "PUT", "/v1/index/users", TooMany("users", $$"""{"userId":"u","vector":{{Ok8}}}"""), "users" },
    };

    [Theory]
    [MemberData(nameof(InvalidRequests))]
    public async Task Invalid_input_gets_400_problem_details(string method, string path, string body, string errorKey)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path)
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };

        using var response = await _client.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        if (errorKey.Length > 0)
        {
            using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty(errorKey, out _), $"no error for {errorKey}: {problem.RootElement}");
        }
    }

    [Fact]
    public async Task Put_then_search_finds_the_item_with_coverage_and_version()
    {
        var random = new Random(4);
        var items = Enumerable.Range(0, 40).Select(i => new IndexItemVector($"it{i}", RandomVector(random, 8))).ToList();

        using var put = await _client.PutAsJsonAsync("/v1/index/items", new IndexItemsRequest(items));
        var written = await put.Content.ReadFromJsonAsync<IndexWriteResult>(JsonDefaults.Options);
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.True(written!.Applied);
        Assert.Equal(40, written.Accepted);

        var body = await SearchAsync(items[17].Vector!, 5);

        Assert.Equal("it17", body.Hits[0].ItemId);
        Assert.Equal(4, body.ShardsTotal);
        Assert.Equal(1.0, body.Coverage);
        Assert.False(body.Degraded);
        Assert.Equal(written.IndexVersion, body.IndexVersion);
        Assert.Equal(5, body.Hits.Count);
    }

    [Fact]
    public async Task Delete_removes_and_update_changes_results()
    {
        var random = new Random(5);
        var a = Near(0, random, 8);
        var b = Near(1, random, 8);
        using (var put = await _client.PutAsJsonAsync("/v1/index/items", new IndexItemsRequest([new("a", a), new("b", b)])))
        {
            put.EnsureSuccessStatusCode();
        }

        using (var delete = new HttpRequestMessage(HttpMethod.Delete, "/v1/index/items") { Content = JsonContent.Create(new DeleteIndexItemsRequest(["a"])) })
        using (var deleted = await _client.SendAsync(delete))
        {
            deleted.EnsureSuccessStatusCode();
        }

        Assert.DoesNotContain((await SearchAsync(a, 10)).Hits, h => h.ItemId == "a");

        using (var update = await _client.PutAsJsonAsync("/v1/index/items", new IndexItemsRequest([new("b", a)])))
        {
            update.EnsureSuccessStatusCode();
        }

        var hits = (await SearchAsync(a, 10)).Hits;
        Assert.Equal("b", Assert.Single(hits).ItemId);
        Assert.Equal(1.0, hits[0].Score, 3);
    }

    [Fact]
    public async Task Filters_use_item_metadata_from_the_online_store()
    {
        var db = store.Db;
        db.HashSet(OnlineKeys.Item("p1"), [new HashEntry(ItemFields.Creator, "c1"), new HashEntry(ItemFields.Categories, "music|news"), new HashEntry(ItemFields.Available, "1")]);
        db.HashSet(OnlineKeys.Item("p2"), [new HashEntry(ItemFields.Creator, "c2"), new HashEntry(ItemFields.Categories, "sport"), new HashEntry(ItemFields.Available, "1")]);
        db.HashSet(OnlineKeys.Item("p3"), [new HashEntry(ItemFields.Creator, "c1"), new HashEntry(ItemFields.Categories, "sport"), new HashEntry(ItemFields.Available, "0")]);
        var random = new Random(6);
        using (var put = await _client.PutAsJsonAsync("/v1/index/items", new IndexItemsRequest(
            [new("p1", Near(0, random, 8)), new("p2", Near(0, random, 8)), new("p3", Near(0, random, 8))])))
        {
            put.EnsureSuccessStatusCode();
        }

        var query = Near(0, random, 8);
        Assert.Equal(["p2", "p3"], Ids(await SearchAsync(query, 10, """{"categories":["sport"]}""")));
        Assert.Equal(["p1", "p3"], Ids(await SearchAsync(query, 10, """{"creators":["c1"]}""")));
        Assert.Equal(["p1", "p2"], Ids(await SearchAsync(query, 10, """{"availableOnly":true}""")));
        Assert.Equal(["p1"], Ids(await SearchAsync(query, 10, """{"creators":["c1"],"availableOnly":true}""")));
        Assert.Equal(["p1", "p2", "p3"], Ids(await SearchAsync(query, 10, "{}")));
    }

    [Fact]
    public async Task Rebuild_is_accepted_and_status_reports_it()
    {
        var random = new Random(7);
        var items = Enumerable.Range(0, 100).Select(i => new IndexItemVector($"r{i}", RandomVector(random, 8))).ToList();
        (await _client.PutAsJsonAsync("/v1/index/items", new IndexItemsRequest(items))).Dispose();
        using (var delete = new HttpRequestMessage(HttpMethod.Delete, "/v1/index/items") { Content = JsonContent.Create(new DeleteIndexItemsRequest(["r1", "r2"])) })
        {
            (await _client.SendAsync(delete)).Dispose();
        }

        using var accepted = await _client.PostAsync("/v1/index/rebuild", null);

        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        Assert.Equal("/v1/index/status", accepted.Headers.Location?.OriginalString);
        IndexStatus status;
        do
        {
            await Task.Yield();
            status = (await _client.GetFromJsonAsync<IndexStatus>("/v1/index/status", JsonDefaults.Options))!;
        }
        while (status.Rebuild.State == RebuildState.Running);

        Assert.Equal(RebuildState.Completed, status.Rebuild.State);
        Assert.Equal(98, status.Vectors);
        Assert.Equal(0, status.Deleted);
        Assert.Equal(8, status.Dimension);
        Assert.Equal(4, status.Shards.Count);
        Assert.True(status.MemoryBytes > 0);
        Assert.NotNull(status.LastRebuild);
        Assert.NotNull(status.LastSnapshot);
        Assert.True(status.Persistent);
        Assert.All(status.Shards, s => Assert.NotNull(s.SnapshotVersion));
    }

    [Fact]
    public async Task User_embeddings_are_stored_in_the_online_store()
    {
        using var put = await _client.PutAsJsonAsync("/v1/index/users", new UserEmbeddingsRequest([new("u1", [1, 2, 3, 4, 5, 6, 7, 8])]));

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var stored = await new EmbeddingStore(store.Garnet.Connection).GetAsync(EmbeddingKeys.Unversioned, "u1", 8, CancellationToken.None);
        Assert.Equal([1f, 2, 3, 4, 5, 6, 7, 8], stored!);
    }

    [Fact]
    public async Task Item_vectors_are_mirrored_to_the_feature_store_and_a_new_base_restarts_the_moved_embedding()
    {
        var db = store.Garnet.Connection.GetDatabase();
        float[] vector = [1, 0, 0, 0, 0, 0, 0, 2];
        using (var put = await _client.PutAsJsonAsync("/v1/index/items", new IndexItemsRequest([new("mirror-1", vector)])))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        Assert.Equal(vector, EmbeddingBytes.FromBytes((byte[])(await db.StringGetAsync(OnlineKeys.ItemEmbedding("mirror-1")))!));

        // The stream processor's moved embedding wins over the base while it exists ...
        var embeddings = new EmbeddingStore(store.Garnet.Connection);
        await embeddings.SetUsersAsync(EmbeddingKeys.Unversioned, [("u-ema", [1, 1, 1, 1, 1, 1, 1, 1])], CancellationToken.None);
        float[] moved = [2, 2, 2, 2, 2, 2, 2, 2];
        await db.HashSetAsync(OnlineKeys.UserEmbeddingEma("u-ema"), [new(EmaEmbeddingFields.Vector, EmbeddingBytes.ToBytes(moved)), new(EmaEmbeddingFields.EventTimeMs, 1)]);
        Assert.Equal(moved, await embeddings.GetAsync(EmbeddingKeys.Unversioned, "u-ema", 8, CancellationToken.None));

        // ... and a newly published base replaces it.
        using (var put = await _client.PutAsJsonAsync("/v1/index/users", new UserEmbeddingsRequest([new("u-ema", [3, 3, 3, 3, 3, 3, 3, 3])])))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        Assert.False(await db.KeyExistsAsync(OnlineKeys.UserEmbeddingEma("u-ema")));
        var republished = await embeddings.GetAsync(EmbeddingKeys.Unversioned, "u-ema", 8, CancellationToken.None);
        Assert.Equal([3f, 3, 3, 3, 3, 3, 3, 3], republished!);

        using var request = new HttpRequestMessage(HttpMethod.Delete, "/v1/index/items") { Content = JsonContent.Create(new DeleteIndexItemsRequest(["mirror-1"])) };
        using var deleted = await _client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        Assert.False(await db.KeyExistsAsync(OnlineKeys.ItemEmbedding("mirror-1")));
    }

    [Fact]
    public async Task Health_reports_the_vector_index()
    {
        while (!(await _client.GetFromJsonAsync<IndexStatus>("/v1/index/status", JsonDefaults.Options))!.Loaded)
        {
            await Task.Yield();
        }

        using var response = await _client.GetAsync("/health");
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal("Healthy", doc.RootElement.GetProperty("checks").GetProperty("vector-index").GetProperty("status").GetString());
    }

    private static string[] Ids(IndexSearchResponse response) => [.. response.Hits.Select(h => h.ItemId).Order(StringComparer.Ordinal)];

    private async Task<IndexSearchResponse> SearchAsync(float[] vector, int k, string? filter = null)
    {
        var json = $$"""{"vector":{{Vec(vector)}},"k":{{k}}{{(filter is null ? "" : ",\"filter\":" + filter)}}}""";
        using var response = await _client.PostAsync("/v1/index/search", new StringContent(json, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<IndexSearchResponse>(JsonDefaults.Options))!;
    }
}
