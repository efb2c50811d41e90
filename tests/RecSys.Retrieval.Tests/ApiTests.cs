using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using RecSys.Candidates;
using RecSys.Core.Contracts;
using Microsoft.AspNetCore.Hosting;
using RecSys.Core.Domain;

namespace RecSys.Retrieval.Tests;

[Collection(StoreCollection.Name)]
public sealed class ApiTests
{
    private readonly StoreFixture _store;

    public ApiTests(StoreFixture store)
    {
        _store = store;
        _store.Garnet.Flush();
    }

    [Fact]
    public async Task A_cold_user_gets_200_and_a_full_list()
    {
        _store.Db.Trending([.. Enumerable.Range(0, 1000).Select(i => ($"t{i:D4}", 1000.0 - i))]);
        using var client = _store.App.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/candidates", new CandidateRequest("new-user", "home", 200, ["t0000"]));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<CandidateResponse>(JsonDefaults.Options);
        Assert.NotNull(body);
        Assert.Equal("new-user", body.UserId);
        Assert.Equal(200, body.Candidates.Count);
        Assert.Equal("t0001", body.Candidates[0].ItemId);
        Assert.Equal([SourceNames.Trending], body.Candidates[0].Sources);
        Assert.Empty(body.Degraded);
        Assert.Equal(
            [SourceNames.Collaborative, SourceNames.Content, SourceNames.RecentSimilar, SourceNames.Creator, SourceNames.Trending],
            body.Sources.Select(s => s.Source));
    }

    [Fact]
    public async Task A_client_that_accepts_the_compact_form_gets_the_same_answer_in_it()
    {
        _store.Db.Trending([.. Enumerable.Range(0, 300).Select(i => ($"t{i:D4}", 1000.0 - i))]);
        using var client = _store.App.CreateClient();
        var request = new CandidateRequest("new-user", "home", 200, ["t0000"]);

        using var json = await client.PostAsJsonAsync("/v1/candidates", request);
        using var message = new HttpRequestMessage(HttpMethod.Post, "/v1/candidates") { Content = JsonContent.Create(request) };
        message.Headers.Accept.ParseAdd(CandidateWireFormat.MediaType);
        message.Headers.Accept.ParseAdd("application/json; q=0.5");
        using var compact = await client.SendAsync(message);

        Assert.Equal("application/json", json.Content.Headers.ContentType?.MediaType);
        Assert.Equal(CandidateWireFormat.MediaType, compact.Content.Headers.ContentType?.MediaType);
        var fromJson = await json.Content.ReadFromJsonAsync<CandidateResponse>(JsonDefaults.Options);
        var fromCompact = CandidateWireFormat.Read(await compact.Content.ReadAsByteArrayAsync());
        Assert.Equal(200, fromCompact.Candidates.Count);
        Assert.Equal(
            fromJson!.Candidates.Select(c => (c.ItemId, c.Score, string.Join(',', c.Sources))),
            fromCompact.Candidates.Select(c => (c.ItemId, c.Score, string.Join(',', c.Sources))));
        Assert.Equal(fromJson.Sources.Select(s => (s.Source, s.Returned, s.Failed)), fromCompact.Sources.Select(s => (s.Source, s.Returned, s.Failed)));
        Assert.Equal(fromJson.Degraded, fromCompact.Degraded);
    }

    [Fact]
    public async Task Count_defaults_to_500()
    {
        _store.Db.Trending([.. Enumerable.Range(0, 800).Select(i => ($"t{i:D4}", 1000.0 - i))]);
        using var client = _store.App.CreateClient();

        using var response = await client.PostAsJsonAsync("/v1/candidates", new { userId = "u1" });

        var body = await response.Content.ReadFromJsonAsync<CandidateResponse>(JsonDefaults.Options);
        Assert.Equal(500, body!.Candidates.Count);
    }

    public static TheoryData<string, string> InvalidBodies => new()
    {
        { """{"userId":"bad id!"}""", "userId" },
        { """{"count":10}""", "userId" },
        { """{"userId":""}""", "userId" },
        { """{"userId":"u1","count":0}""", "count" },
        { """{"userId":"u1","count":10001}""", "count" },
        { """{"userId":"u1","exclude":["ok","not ok"]}""", "exclude[1]" },
        { $$"""{"userId":"u1","context":"{{new string('c', 257)}}"}""", "context" },
        { $$"""{"userId":"{{new string('u', 65)}}"}""", "userId" },
    };

    [Theory]
    [MemberData(nameof(InvalidBodies))]
    public async Task Invalid_requests_get_400_validation_problems(string json, string field)
    {
        using var client = _store.App.CreateClient();

        using var response = await Post(client, json);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty(field, out _), $"no error for {field}");
    }

    [Fact]
    public async Task Too_many_excluded_ids_get_400()
    {
        using var client = _store.App.CreateClient();
        var exclude = Enumerable.Range(0, 10_001).Select(i => $"i{i}").ToArray();

        using var response = await client.PostAsJsonAsync("/v1/candidates", new CandidateRequest("u1", null, 10, exclude));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Theory]
    [InlineData("""{"userId":"u1",""")]
    [InlineData("""{"userId":"u1","count":"many"}""")]
    [InlineData("not json")]
    [InlineData("")]
    [InlineData("null")]
    [InlineData("[1,2]")]
    public async Task Malformed_json_gets_400_problem_json(string json)
    {
        using var client = _store.App.CreateClient();

        using var response = await Post(client, json);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(400, problem.RootElement.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task Malformed_json_gets_400_problem_json_in_production_too()
    {
        using var production = _store.App.WithWebHostBuilder(b => b.UseEnvironment("Production"));
        using var client = production.CreateClient();

        using var response = await Post(client, "{\"userId\":");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Health_reports_the_online_store()
    {
        using var client = _store.App.CreateClient();

        using var response = await client.GetAsync(new Uri("/health", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var health = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("Healthy", health.RootElement.GetProperty("checks").GetProperty(ServiceNames.OnlineStore).GetProperty("status").GetString());
    }

    [Fact]
    public async Task The_openapi_document_describes_the_endpoint()
    {
        using var client = _store.App.CreateClient();

        var document = await client.GetStringAsync(new Uri("/openapi/v1.json", UriKind.Relative));

        Assert.Contains("/v1/candidates", document, StringComparison.Ordinal);
        Assert.Contains("GetCandidates", document, StringComparison.Ordinal);
    }

    private static Task<HttpResponseMessage> Post(HttpClient client, string json) =>
        client.PostAsync(new Uri("/v1/candidates", UriKind.Relative), new StringContent(json, Encoding.UTF8, "application/json"));
}
