using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using RecSys.Core.Contracts;
using RecSys.FeatureStore.Keys;
using StackExchange.Redis;

namespace RecSys.FeatureServer.Tests;

public sealed class ApiTests(FeatureServerFactory factory) : IClassFixture<FeatureServerFactory>
{
    private static readonly DateTimeOffset Recent = DateTimeOffset.UtcNow.AddMinutes(-10);
    private readonly HttpClient _client = factory.CreateClient();
    private readonly IDatabase _db = factory.Garnet.Connection.GetDatabase();

    private static EventDto Click(string id, string user, string item) => new(id, user, item, null, "click", null, Recent);

    private async Task WaitUntilAppliedAsync(long logPosition)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var status = await _client.GetFromJsonAsync<FeatureServerStatus>("/v1/status", FeatureServerFactory.Json, cts.Token);
            if (status!.ProcessedPosition >= logPosition)
            {
                return;
            }

            await Task.Delay(20, cts.Token);
        }
    }

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    [Fact]
    public async Task A_valid_batch_is_acknowledged_and_becomes_visible_in_the_online_store()
    {
        var items = new ItemBatchRequest([new ItemDto("api-i1", "api-c1", ["api-cat"], ["x"], Recent, null, "One")]);
        using var itemResponse = await _client.PutAsJsonAsync("/v1/items", items, FeatureServerFactory.Json);
        Assert.Equal(HttpStatusCode.OK, itemResponse.StatusCode);
        Assert.Equal(1, (await itemResponse.Content.ReadFromJsonAsync<ItemBatchResponse>(FeatureServerFactory.Json))!.Upserted);

        var batch = new EventBatchRequest([Click("api-e1", "api-u1", "api-i1"), new("api-e2", "api-u1", null, "api-c1", "follow", null, Recent)]);
        using var response = await _client.PostAsJsonAsync("/v1/events", batch, FeatureServerFactory.Json);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<EventBatchResponse>(FeatureServerFactory.Json);
        Assert.Equal(2, body!.Accepted);
        Assert.Equal(0, body.Rejected);

        await WaitUntilAppliedAsync(body.LogPosition);
        Assert.NotNull(await _db.SortedSetScoreAsync(OnlineKeys.Trending, "api-i1"));
        Assert.True(await _db.SetContainsAsync(OnlineKeys.UserFollows("api-u1"), "api-c1"));
        Assert.True(await _db.SetContainsAsync(OnlineKeys.AllItems, "api-i1"));
        Assert.NotNull(await _db.SortedSetScoreAsync(OnlineKeys.CategoryPopularity("api-cat"), "api-i1"));

        var features = await _client.GetFromJsonAsync<OnlineFeaturesResponse>(
            "/v1/features/online?entities=user:api-u1,item:api-i1,user:nobody&features=user_clicks_total,user_ctr,user_followed_creators,item_popularity,item_categories",
            FeatureServerFactory.Json);
        var byEntity = features!.Entities.ToDictionary(e => e.Entity);
        var user = byEntity["user:api-u1"].Features;
        Assert.Equal(1, user["user_clicks_total"].Number);
        Assert.False(user["user_clicks_total"].IsDefault);
        Assert.NotNull(user["user_clicks_total"].EventTime);
        Assert.True(user["user_ctr"].IsDefault);
        Assert.Equal(["api-c1"], user["user_followed_creators"].Ids);
        Assert.False(user.ContainsKey("item_popularity"));
        var item = byEntity["item:api-i1"].Features;
        Assert.InRange(item["item_popularity"].Number!.Value, 0.5, 2.0);
        Assert.Equal(["api-cat"], item["item_categories"].Ids);
        var nobody = byEntity["user:nobody"].Features;
        Assert.True(nobody["user_clicks_total"].IsDefault);
        Assert.Equal(0, nobody["user_clicks_total"].Number);
    }

    [Fact]
    public async Task A_partially_invalid_batch_gets_400_with_per_event_errors_and_keeps_the_valid_ones()
    {
        var batch = new EventBatchRequest(
        [
            Click("part-e1", "part-u1", "part-i1"),
            new("bad id", "part-u1", "part-i1", null, "click", null, Recent),
            new("part-e3", "part-u1", "part-i1", null, "teleport", null, Recent),
            Click("part-e4", "part-u1", "part-i2"),
        ]);
        using var response = await _client.PostAsJsonAsync("/v1/events", batch, FeatureServerFactory.Json);
        var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(2, problem.GetProperty("accepted").GetInt32());
        Assert.Equal(2, problem.GetProperty("rejected").GetInt32());
        var errors = problem.GetProperty("eventErrors").EnumerateArray().ToList();
        Assert.Equal([1, 2], errors.Select(e => e.GetProperty("index").GetInt32()));
        Assert.Equal("bad id", errors[0].GetProperty("eventId").GetString());
        Assert.Contains("type", errors[1].GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.True(problem.GetProperty("errors").TryGetProperty("events[1]", out _));

        await WaitUntilAppliedAsync(problem.GetProperty("logPosition").GetInt64());
        Assert.True(await _db.KeyExistsAsync(OnlineKeys.AppliedEvent("part-e1")));
        Assert.True(await _db.KeyExistsAsync(OnlineKeys.AppliedEvent("part-e4")));
        Assert.False(await _db.KeyExistsAsync(OnlineKeys.AppliedEvent("part-e3")));
        Assert.Equal(2, (long)await _db.HashGetAsync(OnlineKeys.Features("user", "part-u1"), "clicks_total"));

        // Resending the whole batch is safe: the valid events are deduplicated.
        using var resent = await _client.PostAsJsonAsync("/v1/events", batch, FeatureServerFactory.Json);
        var again = await ProblemAsync(resent, HttpStatusCode.BadRequest);
        await WaitUntilAppliedAsync(again.GetProperty("logPosition").GetInt64());
        Assert.Equal(2, (long)await _db.HashGetAsync(OnlineKeys.Features("user", "part-u1"), "clicks_total"));
    }

    [Fact]
    public async Task A_lost_online_store_is_rebuilt_from_the_event_log()
    {
        var items = new ItemBatchRequest([new ItemDto("lost-i1", "lost-c1", ["lost-cat"], null, Recent, null, null)]);
        using (var put = await _client.PutAsJsonAsync("/v1/items", items, FeatureServerFactory.Json))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        using var first = await _client.PostAsJsonAsync("/v1/events", new EventBatchRequest([Click("lost-e1", "lost-u1", "lost-i1")]), FeatureServerFactory.Json);
        await WaitUntilAppliedAsync((await first.Content.ReadFromJsonAsync<EventBatchResponse>(FeatureServerFactory.Json))!.LogPosition);

        factory.Garnet.Flush();
        Assert.False(await _db.KeyExistsAsync(OnlineKeys.Item("lost-i1")));

        // The next batch finds the position gone: the processor replays the whole log into the empty store.
        using var second = await _client.PostAsJsonAsync("/v1/events", new EventBatchRequest([Click("lost-e2", "lost-u1", "lost-i1")]), FeatureServerFactory.Json);
        await WaitUntilAppliedAsync((await second.Content.ReadFromJsonAsync<EventBatchResponse>(FeatureServerFactory.Json))!.LogPosition);
        Assert.True(await _db.SetContainsAsync(OnlineKeys.AllItems, "lost-i1"));
        Assert.Equal(2, (long)await _db.HashGetAsync(OnlineKeys.Features("user", "lost-u1"), "clicks_total"));
        Assert.True(await _db.KeyExistsAsync(OnlineKeys.AppliedEvent("lost-e1")));
    }

    [Fact]
    public async Task Invalid_items_get_400_with_per_item_errors()
    {
        var batch = new ItemBatchRequest([new ItemDto("ok-item", null, ["a"], null, Recent, false, null), new ItemDto("x", null, ["a|b"], null, Recent, null, null)]);
        using var response = await _client.PutAsJsonAsync("/v1/items", batch, FeatureServerFactory.Json);
        var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(1, problem.GetProperty("accepted").GetInt32());
        Assert.Equal(1, problem.GetProperty("upserted").GetInt32());
        Assert.Equal(1, Assert.Single(problem.GetProperty("itemErrors").EnumerateArray().ToList()).GetProperty("index").GetInt32());
    }

    [Theory]
    [InlineData("{\"events\": [")]
    [InlineData("{\"events\": 12}")]
    [InlineData("not json")]
    public async Task Malformed_json_gets_400_problem_json(string body)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await _client.PostAsync("/v1/events", content);
        await ProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task An_empty_batch_gets_400_problem_json()
    {
        using var response = await _client.PostAsJsonAsync("/v1/events", new EventBatchRequest([]), FeatureServerFactory.Json);
        var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty("events", out _));
    }

    [Fact]
    public async Task An_oversized_body_gets_413_problem_json()
    {
        var filler = new string('x', 17 * 1024 * 1024);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/events")
        {
            Content = new StringContent($"{{\"events\": [], \"pad\": \"{filler}\"}}", Encoding.UTF8, "application/json"),
        };

        // Asking first (Expect: 100-continue) lets the client read the refusal instead of having its upload reset.
        request.Headers.ExpectContinue = true;
        using var response = await _client.SendAsync(request);
        var problem = await ProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal(413, problem.GetProperty("status").GetInt32());
    }

    [Theory]
    [InlineData("entities=user:u1&features=no_such_feature")]
    [InlineData("entities=user:u1&features=item_popularity")]
    [InlineData("entities=robot:u1&features=user_ctr")]
    [InlineData("entities=user:bad id&features=user_ctr")]
    [InlineData("entities=u1&features=user_ctr")]
    [InlineData("features=user_ctr")]
    [InlineData("entities=user:u1")]
    public async Task Bad_feature_requests_get_400(string query)
    {
        using var response = await _client.GetAsync("/v1/features/online?" + query);
        await ProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Too_many_entities_or_features_get_400()
    {
        var entities = string.Join(',', Enumerable.Range(0, 1_001).Select(i => $"user:u{i}"));
        using var tooManyEntities = await _client.GetAsync($"/v1/features/online?entities={entities}&features=user_ctr");
        await ProblemAsync(tooManyEntities, HttpStatusCode.BadRequest);
        var features = string.Join(',', Enumerable.Repeat("user_ctr", 501));
        using var tooManyFeatures = await _client.GetAsync($"/v1/features/online?entities=user:u1&features={features}");
        await ProblemAsync(tooManyFeatures, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task The_registry_lists_the_features()
    {
        var registry = await _client.GetFromJsonAsync<JsonElement>("/v1/registry");
        Assert.Matches("^[0-9a-f]{16}$", registry.GetProperty("version").GetString());
        var features = registry.GetProperty("features").EnumerateArray().ToList();
        var names = features.Select(f => f.GetProperty("name").GetString()).ToList();
        Assert.Contains("user_ctr", names);
        Assert.Contains("item_popularity", names);
        Assert.All(features, f => Assert.False(string.IsNullOrEmpty(f.GetProperty("transform").GetProperty("kind").GetString())));
    }

    [Fact]
    public async Task Health_reports_the_event_log_and_the_online_store()
    {
        using var response = await _client.GetAsync("/health");
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("event-log", body, StringComparison.Ordinal);
        Assert.Contains("online-store", body, StringComparison.Ordinal);
    }
}
