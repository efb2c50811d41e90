using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using RecSys.Core.Contracts;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.Serving;
using RecSys.Ranking.Services;
using RecSys.TestSupport;

namespace RecSys.Ranking.Tests;

/// <summary>The last resort of the serving path: the popular list Ranking keeps in process for when Retrieval and the store both fail.</summary>
public sealed class LastKnownPopularTests : IClassFixture<EmbeddedGarnet>, IDisposable
{
    private readonly EmbeddedGarnet _garnet;
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "recsys-lkp-" + Guid.NewGuid().ToString("N")[..8]);

    public LastKnownPopularTests(EmbeddedGarnet garnet)
    {
        _garnet = garnet;
        _garnet.Flush();
    }

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    private LastKnownPopularList NewList(string? folder = null) => new(
        Options.Create(new FallbackOptions { DataDirectory = folder }),
        new FakeTimeProvider(new DateTimeOffset(2026, 12, 2, 10, 0, 0, TimeSpan.Zero)),
        NullLogger<LastKnownPopularList>.Instance);

    [Fact]
    public async Task The_list_is_saved_and_read_back_by_a_restarted_instance()
    {
        var list = NewList(_folder);
        Assert.True(list.Update([new("a", 1), new("b", 0.5), new("c", 0.25)]));
        Assert.False(list.Update([new("a", 1), new("b", 0.5), new("c", 0.25)]));
        await list.SaveAsync(CancellationToken.None);

        var restarted = NewList(_folder);
        restarted.Load();

        Assert.Equal(["a", "b"], restarted.Get(2).Select(c => c.ItemId));
        Assert.Equal(0.5, restarted.Get(2)[1].Score);
        Assert.Equal(new DateTimeOffset(2026, 12, 2, 10, 0, 0, TimeSpan.Zero), restarted.AsOf);
        Assert.All(restarted.Get(3), c => Assert.Equal(["trending"], c.Sources));
    }

    [Fact]
    public void An_empty_read_keeps_the_list_and_an_unreadable_file_is_ignored()
    {
        var list = NewList();
        list.Update([new("a", 1)]);
        Assert.False(list.Update([]));
        Assert.Equal(["a"], list.Get(10).Select(c => c.ItemId));

        Directory.CreateDirectory(_folder);
        File.WriteAllText(Path.Combine(_folder, LastKnownPopularList.FileName), "{\"asOf\":\"2026-12-02T10:00:00Z\",\"items\":[{\"itemId\":\"bad id\",\"score\":1}]}");
        var fromCorrupt = NewList(_folder);
        fromCorrupt.Load();
        Assert.Equal(0, fromCorrupt.Count);
        File.WriteAllText(Path.Combine(_folder, LastKnownPopularList.FileName), "not json");
        fromCorrupt.Load();
        Assert.Empty(fromCorrupt.Get(10));
    }

    [Fact]
    public async Task With_retrieval_and_the_store_away_the_last_known_list_answers_and_health_is_degraded()
    {
        // A port nothing listens on: the store refuses every connection.
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using var factory = Factory($"127.0.0.1:{port}", _ => throw new HttpRequestException("connection refused"));
        factory.Services.GetRequiredService<LastKnownPopularList>().Update([new("p1", 1), new("p2", 0.8), new("p3", 0.6)]);
        using var client = factory.CreateClient();

        var response = await client.GetFromJsonAsync<RecommendationResponse>("/v1/recommendations/u1?count=2", JsonDefaults.Options);
        using var health = await client.GetAsync("/health");

        Assert.NotNull(response);
        Assert.Equal(["p1", "p2"], response.Items.Select(i => i.ItemId));
        Assert.Contains(RecommendationService.DegradedRetrieval, response.Metadata.Degraded);
        Assert.Contains(RecommendationService.DegradedLastKnown, response.Metadata.Degraded);
        Assert.Contains(RecommendationService.DegradedModel, response.Metadata.Degraded);
        // Degraded answers 200: orchestrators keep routing to a Ranking that still serves.
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        using var body = JsonDocument.Parse(await health.Content.ReadAsStringAsync());
        Assert.Equal("Degraded", body.RootElement.GetProperty("status").GetString());
        Assert.Equal("Degraded", body.RootElement.GetProperty("checks").GetProperty("online-store").GetProperty("status").GetString());
        Assert.Equal(3, body.RootElement.GetProperty("checks").GetProperty(LastKnownPopularHealthCheck.Name).GetProperty("data").GetProperty("items").GetInt32());
    }

    [Fact]
    public async Task An_empty_answer_with_every_source_failed_falls_back_to_trending()
    {
        await _garnet.Connection.GetDatabase().SortedSetAddAsync(OnlineKeys.Trending, [new("hot", 10), new("warm", 5)]);
        using var factory = Factory(_garnet.ConnectionString, r => new CandidateResponse(r.UserId!, [], [], ["trending", "content", "creator", "recent_similar", "collaborative"], 1));
        using var client = factory.CreateClient();

        var response = await client.GetFromJsonAsync<RecommendationResponse>("/v1/recommendations/u1?count=5", JsonDefaults.Options);

        Assert.NotNull(response);
        Assert.Equal(["hot", "warm"], response.Items.Select(i => i.ItemId));
        Assert.Contains(RecommendationService.DegradedRetrieval, response.Metadata.Degraded);
        Assert.DoesNotContain(RecommendationService.DegradedLastKnown, response.Metadata.Degraded);
    }

    [Fact]
    public async Task The_refresher_reads_the_trending_top_from_the_store()
    {
        await _garnet.Connection.GetDatabase().SortedSetAddAsync(OnlineKeys.Trending, [new("x", 4), new("y", 2)]);
        var options = Options.Create(new FallbackOptions { DataDirectory = _folder });
        var list = new LastKnownPopularList(options, TimeProvider.System, NullLogger<LastKnownPopularList>.Instance);
        var refresher = new LastKnownPopularRefresher(list, new CandidateSignalReader(_garnet.Connection), options, TimeProvider.System, NullLogger<LastKnownPopularRefresher>.Instance);

        await refresher.RefreshAsync(CancellationToken.None);

        Assert.Equal(["x", "y"], list.Get(10).Select(c => c.ItemId));
        Assert.True(File.Exists(Path.Combine(_folder, LastKnownPopularList.FileName)));
    }

    private static WebApplicationFactory<Program> Factory(string store, Func<CandidateRequest, CandidateResponse> respond) =>
        new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("ConnectionStrings:online-store", store);
            web.UseSetting("Ranking:RetrievalBaseAddress", "http://retrieval.test");
            web.UseSetting("Ranking:RetrievalRetries", "0");
            web.UseSetting("RecSys:Security:Mode", "Open");
            web.ConfigureServices(services =>
                services.AddHttpClient<RetrievalClient>().ConfigurePrimaryHttpMessageHandler(() => new ScriptedRetrievalHandler(respond)));
        });

    private sealed class ScriptedRetrievalHandler(Func<CandidateRequest, CandidateResponse> respond) : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = await request.Content!.ReadFromJsonAsync<CandidateRequest>(JsonDefaults.Options, cancellationToken);
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = JsonContent.Create(respond(body!), options: JsonDefaults.Options) };
        }
    }
}
