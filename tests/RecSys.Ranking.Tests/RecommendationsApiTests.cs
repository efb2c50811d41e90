using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using RecSys.Core.Contracts;
using RecSys.FeatureStore.Keys;
using RecSys.Ranking.Services;
using RecSys.TestSupport;

namespace RecSys.Ranking.Tests;

public sealed class RecommendationsApiTests : IClassFixture<EmbeddedGarnet>, IDisposable
{
    private readonly EmbeddedGarnet _garnet;
    private readonly FakeRetrieval _retrieval = new();
    private readonly WebApplicationFactory<Program> _factory;

    public RecommendationsApiTests(EmbeddedGarnet garnet)
    {
        _garnet = garnet;
        _garnet.Flush();
        _factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("ConnectionStrings:online-store", garnet.ConnectionString);
            web.UseSetting("Ranking:RetrievalBaseAddress", "http://retrieval.test");
            web.UseSetting("RecSys:Security:Mode", "Open");
            web.ConfigureServices(services =>
                services.AddHttpClient<RetrievalClient>().ConfigurePrimaryHttpMessageHandler(() => _retrieval));
        });
    }

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task Ranks_candidates_by_score_and_reports_stages()
    {
        _retrieval.Respond = _ => new CandidateResponse(
            "u1",
            [new("a", 0.2, ["trending"]), new("b", 0.9, ["creator", "content"]), new("c", 0.5, ["content"])],
            [],
            [],
            1.0);
        using var client = _factory.CreateClient();

        var response = await client.GetFromJsonAsync<RecommendationResponse>("/v1/recommendations/u1?count=2", JsonDefaults.Options);

        Assert.NotNull(response);
        Assert.Equal(["b", "c"], response.Items.Select(i => i.ItemId));
        Assert.Equal(["creator", "content"], response.Items[0].Sources);
        Assert.Equal("fused-score-v1", response.Metadata.RankerVersion);
        // No ranker release is configured: the fused score ranks and says so.
        Assert.Equal([RecommendationService.DegradedModel], response.Metadata.Degraded);
        Assert.Null(response.Metadata.Models);
        Assert.Equal(3, response.Metadata.CandidatesConsidered);
        Assert.Contains("retrieval", response.Metadata.StageMs.Keys);
        Assert.Contains("ranking", response.Metadata.StageMs.Keys);
    }

    [Fact]
    public async Task Asks_retrieval_for_five_thousand_candidates_by_default()
    {
        int? asked = null;
        _retrieval.Respond = r =>
        {
            asked = r.Count;
            return new CandidateResponse("u1", [], [], [], 1.0);
        };
        using var client = _factory.CreateClient();

        await client.GetFromJsonAsync<RecommendationResponse>("/v1/recommendations/u1", JsonDefaults.Options);

        Assert.Equal(5000, asked);
    }

    [Fact]
    public async Task Asks_for_fewer_candidates_and_says_so_while_latency_is_over_its_target()
    {
        using var factory = _factory.WithWebHostBuilder(web =>
        {
            web.UseSetting("Ranking:LoadDegradation:TargetP99", "00:00:00.001");
            web.UseSetting("Ranking:LoadDegradation:MinSamples", "1");
            web.UseSetting("Ranking:LoadDegradation:Window", "00:00:00.050");
        });
        var asked = new List<int>();
        _retrieval.Respond = r =>
        {
            lock (asked)
            {
                asked.Add(r.Count ?? 0);
            }

            return new CandidateResponse("u1", [new("a", 0.5, ["trending"])], [], [], 1.0);
        };
        using var client = factory.CreateClient();
        var budget = factory.Services.GetRequiredService<CandidateBudget>();
        // A slow window (1 s against a 1 ms target) closes: the next request asks for the first smaller budget.
        budget.Record(TimeSpan.FromSeconds(1));
        await Task.Delay(TimeSpan.FromMilliseconds(80));
        budget.Record(TimeSpan.FromSeconds(1));

        var response = await client.GetFromJsonAsync<RecommendationResponse>("/v1/recommendations/u1", JsonDefaults.Options);

        Assert.Equal([2500], asked);
        Assert.NotNull(response);
        Assert.Contains(RecommendationService.DegradedCandidates, response.Metadata.Degraded);
        using var health = await client.GetAsync("/health");
        Assert.Contains("candidate-budget", await health.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Passes_the_sources_degraded_in_retrieval_through()
    {
        _retrieval.Respond = _ => new CandidateResponse("u1", [new("a", 1, ["trending"])], [], ["creator"], 1.0);
        using var client = _factory.CreateClient();

        var response = await client.GetFromJsonAsync<RecommendationResponse>("/v1/recommendations/u1", JsonDefaults.Options);

        Assert.Equal(["creator", RecommendationService.DegradedModel], response!.Metadata.Degraded);
    }

    [Fact]
    public async Task Falls_back_to_trending_without_seen_or_unavailable_items_when_retrieval_fails()
    {
        var db = _garnet.Connection.GetDatabase();
        await db.SortedSetAddAsync(OnlineKeys.Trending, [new("hot", 10), new("warm", 5), new("seen", 8), new("gone", 9), new("cool", 1)]);
        await db.SetAddAsync(OnlineKeys.UserSeen("u2"), "seen");
        await db.SetAddAsync(OnlineKeys.UnavailableItems, "gone");
        _retrieval.Respond = _ => throw new HttpRequestException("connection refused");
        using var client = _factory.CreateClient();

        var response = await client.GetFromJsonAsync<RecommendationResponse>("/v1/recommendations/u2?count=3", JsonDefaults.Options);

        Assert.NotNull(response);
        Assert.Equal(["hot", "warm", "cool"], response.Items.Select(i => i.ItemId));
        Assert.Equal(1.0, response.Items[0].Score, 6);
        Assert.Contains(RecommendationService.DegradedRetrieval, response.Metadata.Degraded);
    }

    [Theory]
    [InlineData("/v1/recommendations/bad%20id")]
    [InlineData("/v1/recommendations/u1?count=0")]
    [InlineData("/v1/recommendations/u1?count=201")]
    [InlineData("/v1/recommendations/u1?count=ten")]
    public async Task Malformed_requests_get_400_problem_json(string path)
    {
        using var client = _factory.CreateClient();

        using var response = await client.GetAsync(path);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Health_covers_the_online_store()
    {
        using var client = _factory.CreateClient();

        var body = await client.GetStringAsync("/health");

        Assert.Contains("online-store", body, StringComparison.Ordinal);
        Assert.Contains("Healthy", body, StringComparison.Ordinal);
        Assert.Contains("\"ranking-models\"", body, StringComparison.Ordinal);
        Assert.Contains("\"provider\":\"CPU\"", body, StringComparison.Ordinal);
        Assert.Contains("\"degraded\":\"model\"", body, StringComparison.Ordinal);
    }

    /// <summary>Stands in for the Retrieval service at the HTTP boundary.</summary>
    private sealed class FakeRetrieval : HttpMessageHandler
    {
        public Func<CandidateRequest, CandidateResponse> Respond { get; set; } = r => new CandidateResponse(r.UserId!, [], [], [], 0);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = await request.Content!.ReadFromJsonAsync<CandidateRequest>(JsonDefaults.Options, cancellationToken);
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = JsonContent.Create(Respond(body!), options: JsonDefaults.Options) };
        }
    }
}
