using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using RecSys.Core.Contracts;
using RecSys.Ranking.Feedback;
using RecSys.Ranking.Features;
using RecSys.Ranking.Serving;
using RecSys.Ranking.Services;
using RecSys.Ranking.Tests.Models;
using RecSys.ServiceDefaults.Security;
using RecSys.TestSupport;

namespace RecSys.Ranking.Tests.Rollout;

/// <summary>The feedback loop's sending side: served lists become impression events on the FeatureServer, without blocking.</summary>
public sealed class FeedbackTests(EmbeddedGarnet garnet) : IClassFixture<EmbeddedGarnet>, IDisposable
{
    private const string ProducerKey = "producer-key-for-the-feedback-test-3f9a";
    private readonly TestReleases _releases = new();
    private readonly ScriptedRetrieval _retrieval = new();
    private readonly FakeFeatureServer _featureServer = new();

    public void Dispose() => _releases.Dispose();

    [Fact]
    public async Task Every_served_list_is_logged_as_impressions_with_the_request_id_and_the_serving_release()
    {
        using var app = Start(queueCapacity: 100);
        using var client = app.CreateClient();

        var response = (await client.GetFromJsonAsync<RecommendationResponse>("/v1/recommendations/u1?count=5", JsonDefaults.Options))!;
        var batch = await _featureServer.Posted.Task.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(ProducerKey, _featureServer.LastApiKey);
        Assert.Equal(response.Items.Select(i => i.ItemId), batch.Select(e => e.ItemId));
        Assert.All(batch, e =>
        {
            Assert.Equal("impression", e.Type);
            Assert.Equal("u1", e.UserId);
            Assert.Equal(response.Metadata.RequestId, e.RequestId);
            Assert.Equal("v1", e.ModelVersion);
        });
        Assert.Equal(batch.Count, batch.Select(e => e.EventId).Distinct().Count());
    }

    [Fact]
    public async Task A_full_queue_drops_and_counts_impressions_and_never_holds_a_response()
    {
        _featureServer.Hold = true;
        using var app = Start(queueCapacity: 1);
        using var client = app.CreateClient();
        var logger = app.Services.GetRequiredService<ImpressionLogger>();

        using (var first = await client.GetAsync(new Uri("/v1/recommendations/u0?count=5", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        // The sender now holds that list at the stuck FeatureServer; one more list fits the queue, the next five are dropped.
        await _featureServer.Entered.Task.WaitAsync(TimeSpan.FromSeconds(60));
        for (var i = 1; i <= 6; i++)
        {
            using var response = await client.GetAsync(new Uri($"/v1/recommendations/u{i}?count=5", UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(5 * 5, logger.Dropped);
        _featureServer.Release();
    }

    [Fact]
    public async Task A_send_that_throws_any_exception_drops_its_batch_and_the_service_keeps_logging()
    {
        // Polly's timeout (TimeoutRejectedException) once escaped the sender's loop and stopped the whole host.
        _featureServer.ThrowFirst = new InvalidOperationException("a resilience pipeline's own exception");
        using var app = Start(queueCapacity: 100);
        using var client = app.CreateClient();
        var logger = app.Services.GetRequiredService<ImpressionLogger>();

        using (var first = await client.GetAsync(new Uri("/v1/recommendations/u1?count=5", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        await _featureServer.Entered.Task.WaitAsync(TimeSpan.FromSeconds(60));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (logger.Dropped < 5 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal(5, logger.Dropped);
        var second = (await client.GetFromJsonAsync<RecommendationResponse>("/v1/recommendations/u2?count=5", JsonDefaults.Options))!;
        var batch = await _featureServer.Posted.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.All(batch, e => Assert.Equal(second.Metadata.RequestId, e.RequestId));
    }

    private WebApplicationFactory<Program> Start(int queueCapacity)
    {
        _releases.Write("v1");
        var candidates = Enumerable.Range(0, 60).Select(i => new CandidateDto($"item{i}", 1.0 / (i + 1), ["content"])).ToArray();
        _retrieval.Script = (_, r, _) => Task.FromResult(ScriptedRetrieval.Ok(new CandidateResponse(r.UserId!, candidates, [], [], 1.0)));
        var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("ConnectionStrings:online-store", garnet.ConnectionString);
            web.UseSetting("Ranking:RetrievalBaseAddress", "http://retrieval.test");
            web.UseSetting("RecSys:Security:Mode", "Open");
            web.UseSetting("Ranking:Models:Path", _releases.Root);
            web.UseSetting("Ranking:Models:PreRankKeep", "20");
            web.UseSetting("Ranking:Feedback:FeatureServerBaseAddress", "http://featureserver.test");
            web.UseSetting("Ranking:Feedback:ApiKey", ProducerKey);
            web.UseSetting("Ranking:Feedback:QueueCapacity", queueCapacity.ToString(System.Globalization.CultureInfo.InvariantCulture));
            web.UseSetting("Ranking:Feedback:FlushInterval", "00:00:00.050");
            web.ConfigureServices(services =>
            {
                services.AddHttpClient<RetrievalClient>().ConfigurePrimaryHttpMessageHandler(() => _retrieval);
                services.AddHttpClient(ImpressionLogger.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => _featureServer);
                services.AddSingleton<IRankingFeatureProvider>(new HashFeatureProvider());
            });
        });
        factory.Services.GetRequiredService<RankerReleaseManager>().Refresh();
        return factory;
    }

    /// <summary>Answers <c>POST /v1/events</c> like the FeatureServer; with <see cref="Hold"/> it does not answer until released.</summary>
    private sealed class FakeFeatureServer : HttpMessageHandler
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private Exception? _throwOnce;

        public TaskCompletionSource<IReadOnlyList<EventDto>> Posted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Hold { get; set; }

        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string? LastApiKey { get; private set; }

        /// <summary>Thrown by the first post, then cleared.</summary>
        public Exception? ThrowFirst { get; set; }

        public void Release() => _released.TrySetResult();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Assert.Equal("/v1/events", request.RequestUri!.AbsolutePath);
            _throwOnce ??= ThrowFirst;
            ThrowFirst = null;
            LastApiKey = request.Headers.TryGetValues(ApiKeyAuthenticationHandler.HeaderName, out var keys) ? keys.Single() : null;
            Entered.TrySetResult();
            if (Interlocked.Exchange(ref _throwOnce, null) is { } failure)
            {
                throw failure;
            }

            if (Hold)
            {
                await _released.Task.WaitAsync(cancellationToken);
            }

            var body = await request.Content!.ReadFromJsonAsync<EventBatchRequest>(JsonDefaults.Options, cancellationToken);
            var events = body!.Events!.Select(e => e!).ToList();
            Posted.TrySetResult(events);
            return new HttpResponseMessage(HttpStatusCode.OK)
            {
                Content = JsonContent.Create(new EventBatchResponse(events.Count, 0, [], events.Count), options: JsonDefaults.Options),
            };
        }
    }
}
