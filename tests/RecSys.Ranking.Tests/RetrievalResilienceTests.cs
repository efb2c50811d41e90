using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using RecSys.Core.Contracts;
using RecSys.Ranking.Services;
using RecSys.TestSupport;

namespace RecSys.Ranking.Tests;

/// <summary>
/// The 2 s tail: a transient Retrieval failure used to be retried by the standard resilience handler after its 2 s
/// backoff, i.e. after the request's whole 2 s budget, so the request timed out and fell back to trending.
/// </summary>
public sealed class RetrievalResilienceTests : IClassFixture<EmbeddedGarnet>, IDisposable
{
    private readonly ScriptedRetrieval _retrieval = new();
    private readonly WebApplicationFactory<Program> _factory;

    public RetrievalResilienceTests(EmbeddedGarnet garnet)
    {
        _factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("ConnectionStrings:online-store", garnet.ConnectionString);
            web.UseSetting("Ranking:RetrievalBaseAddress", "http://retrieval.test");
            web.UseSetting("RecSys:Security:Mode", "Open");
            web.UseSetting("Ranking:RetrievalAttemptTimeout", "00:00:00.300");
            web.ConfigureServices(services =>
                services.AddHttpClient<RetrievalClient>().ConfigurePrimaryHttpMessageHandler(() => _retrieval));
        });
    }

    public void Dispose() => _factory.Dispose();

    [Fact]
    public void The_standard_handlers_first_retry_comes_no_sooner_than_the_whole_retrieval_budget()
    {
        // Why the tail was exactly the timeout: the handler every HttpClient got waits this long before retrying.
        Assert.True(new HttpStandardResilienceOptions().Retry.Delay >= new RankingOptions().RetrievalTimeout);
    }

    [Fact]
    public async Task A_transient_failure_is_retried_within_the_budget_and_retrieval_answers()
    {
        _retrieval.Script = (attempt, r, _) => Task.FromResult(attempt == 1
            ? new HttpResponseMessage(HttpStatusCode.InternalServerError)
            : ScriptedRetrieval.Ok(new CandidateResponse(r.UserId!, [new("a", 1, ["content"])], [], [], 1.0)));
        using var client = _factory.CreateClient();

        var response = await client.GetFromJsonAsync<RecommendationResponse>("/v1/recommendations/u1", JsonDefaults.Options);

        Assert.Equal(["a"], response!.Items.Select(i => i.ItemId));
        Assert.DoesNotContain(RecommendationService.DegradedRetrieval, response.Metadata.Degraded);
        Assert.Equal(2, _retrieval.Attempts);
    }

    [Fact]
    public async Task A_hung_attempt_is_abandoned_at_the_attempt_timeout_and_retried()
    {
        _retrieval.Script = async (attempt, r, ct) =>
        {
            if (attempt == 1)
            {
                await Task.Delay(Timeout.Infinite, ct);
            }

            return ScriptedRetrieval.Ok(new CandidateResponse(r.UserId!, [new("b", 1, ["trending"])], [], [], 1.0));
        };
        using var client = _factory.CreateClient();

        var response = await client.GetFromJsonAsync<RecommendationResponse>("/v1/recommendations/u1", JsonDefaults.Options);

        Assert.Equal(["b"], response!.Items.Select(i => i.ItemId));
        Assert.DoesNotContain(RecommendationService.DegradedRetrieval, response.Metadata.Degraded);
        Assert.Equal(2, _retrieval.Attempts);
    }

    [Fact]
    public async Task A_validation_error_from_retrieval_is_not_retried()
    {
        _retrieval.Script = (_, _, _) => Task.FromResult(new HttpResponseMessage(HttpStatusCode.BadRequest));
        using var client = _factory.CreateClient();

        var response = await client.GetFromJsonAsync<RecommendationResponse>("/v1/recommendations/u1", JsonDefaults.Options);

        Assert.Contains(RecommendationService.DegradedRetrieval, response!.Metadata.Degraded);
        Assert.Equal(1, _retrieval.Attempts);
    }
}
