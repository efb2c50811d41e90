using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using RecSys.Batching;
using RecSys.Core.Contracts;
using RecSys.Ranking.Features;
using RecSys.Ranking.Models;
using RecSys.Ranking.Serving;
using RecSys.Ranking.Services;
using RecSys.Ranking.Tests.Models;
using RecSys.TestSupport;

namespace RecSys.Ranking.Tests;

public sealed class ModelServingApiTests : IClassFixture<EmbeddedGarnet>, IDisposable
{
    private readonly TestReleases _releases = new();
    private readonly ScriptedRetrieval _retrieval = new();
    private readonly HashFeatureProvider _features = new();
    private readonly WebApplicationFactory<Program> _factory;
    private readonly RankingCandidate[] _candidates;

    public ModelServingApiTests(EmbeddedGarnet garnet)
    {
        _releases.Write("v1");
        _candidates = [.. Enumerable.Range(0, 200).Select(i => new RankingCandidate($"item{i}", 1.0 / (i + 1), ["content"]))];
        _retrieval.Script = (_, r, _) => Task.FromResult(ScriptedRetrieval.Ok(new CandidateResponse(
            r.UserId!, [.. _candidates.Select(c => new CandidateDto(c.ItemId, c.RetrievalScore, c.Sources))], [], [], 1.0)));
        _factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("ConnectionStrings:online-store", garnet.ConnectionString);
            web.UseSetting("Ranking:RetrievalBaseAddress", "http://retrieval.test");
            web.UseSetting("RecSys:Security:Mode", "Open");
            web.UseSetting("Ranking:Models:Path", _releases.Root);
            web.UseSetting("Ranking:Models:PreRankKeep", "50");
            web.ConfigureServices(services =>
            {
                services.AddHttpClient<RetrievalClient>().ConfigurePrimaryHttpMessageHandler(() => _retrieval);
                services.AddSingleton<IRankingFeatureProvider>(_features);
            });
        });
        // The watcher loads in the background; loading here makes the tests independent of its timing.
        _factory.Services.GetRequiredService<RankerReleaseManager>().Refresh();
    }

    public void Dispose()
    {
        _factory.Dispose();
        _releases.Dispose();
    }

    [Fact]
    public async Task Both_stages_rank_and_the_metadata_names_the_models_and_times_each_stage()
    {
        using var client = _factory.CreateClient();

        var response = await client.GetFromJsonAsync<RecommendationResponse>("/v1/recommendations/u1?count=10", JsonDefaults.Options);

        var expected = TwoStageRankerTests.Expected(_releases, "v1", ModelKinds.MainRanker, _candidates, 50, 10);
        Assert.NotNull(response);
        Assert.Equal(expected.Select(e => _candidates[e.Index].ItemId), response.Items.Select(i => i.ItemId));
        // Post-processing reports the calibrated probability; the test release has no calibrator, so it is sigmoid(logit).
        Assert.Equal(1 / (1 + Math.Exp(-expected[0].Main)), response.Items[0].Score, 1e-5);
        Assert.Empty(response.Metadata.Degraded);
        Assert.Equal("v1", response.Metadata.RankerVersion);
        Assert.Equal("v1-pre", response.Metadata.Models![ModelKinds.PreRanker]);
        Assert.Equal("v1-main", response.Metadata.Models[ModelKinds.MainRanker]);
        Assert.Equal("CPU", response.Metadata.Models["provider"]);
        Assert.Equal(200, response.Metadata.CandidatesConsidered);
        foreach (var stage in new[] { "retrieval", TwoStageRanker.StageFeatureFetch, TwoStageRanker.StagePreRank, TwoStageRanker.StageMainRank, "total" })
        {
            Assert.Contains(stage, response.Metadata.StageMs.Keys);
        }
    }

    [Fact]
    public async Task A_failing_feature_provider_degrades_to_the_fused_score_not_to_an_error()
    {
        _features.Fail = () => new InvalidOperationException("feature store timed out");
        using var client = _factory.CreateClient();

        var response = await client.GetFromJsonAsync<RecommendationResponse>("/v1/recommendations/u1?count=3", JsonDefaults.Options);

        Assert.Equal(["item0", "item1", "item2"], response!.Items.Select(i => i.ItemId));
        Assert.Equal([RecommendationService.DegradedModel], response.Metadata.Degraded);
        Assert.Equal("fused-score-v1", response.Metadata.RankerVersion);
    }

    [Fact]
    public async Task A_full_main_stage_queue_is_answered_429_with_retry_after_as_problem_json()
    {
        _features.Fail = () => new BatchQueueFullException("main-ranker", 16_384, 16_384, 50, TimeSpan.FromMilliseconds(1500));
        using var client = _factory.CreateClient();

        using var response = await client.GetAsync("/v1/recommendations/u1");

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(TimeSpan.FromSeconds(2), response.Headers.RetryAfter?.Delta);
        Assert.Contains("queue is full", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Health_reports_the_release_and_the_execution_provider()
    {
        using var client = _factory.CreateClient();

        var body = await client.GetStringAsync("/health");

        Assert.Contains("\"release\":\"v1\"", body, StringComparison.Ordinal);
        Assert.Contains("\"provider\":\"CPU\"", body, StringComparison.Ordinal);
        Assert.Contains("\"mainVersion\":\"v1-main\"", body, StringComparison.Ordinal);
    }
}
