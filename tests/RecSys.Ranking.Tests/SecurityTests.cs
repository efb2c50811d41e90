using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using RecSys.Core.Contracts;
using RecSys.Ranking.Services;
using RecSys.ServiceDefaults.Security;
using RecSys.TestSupport;

namespace RecSys.Ranking.Tests;

/// <summary>Ranking with keys required: recommendations are public-read, it sends its own key to Retrieval and sheds load.</summary>
public sealed class SecurityTests(EmbeddedGarnet garnet) : IClassFixture<EmbeddedGarnet>
{
    private const string RetrievalKey = "ranking-to-retrieval-key-5c2e9a7b3d1f4e6a8b0c";

    /// <summary>The public routes; every other route that is not anonymous must be admin.</summary>
    private static readonly string[] PublicRoutes = ["GET /v1/recommendations/{userId}"];

    private readonly GatedRetrieval _retrieval = new();

    private WebApplicationFactory<Program> Start(Action<IWebHostBuilder>? configure = null) =>
        new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("ConnectionStrings:online-store", garnet.ConnectionString);
            web.UseSetting("Ranking:RetrievalBaseAddress", "http://retrieval.test");
            web.UseSetting("Ranking:RetrievalApiKey", RetrievalKey);
            SecurityProbe.RequireKeys(web);
            configure?.Invoke(web);
            web.ConfigureServices(services =>
                services.AddHttpClient<RetrievalClient>().ConfigurePrimaryHttpMessageHandler(() => _retrieval));
        });

    [Fact]
    public void Every_route_names_one_policy_public_read_for_recommendations_and_admin_for_the_rest()
    {
        using var app = Start();
        var endpoints = app.Services.GetRequiredService<EndpointDataSource>();

        Assert.Empty(SecurityExtensions.RoutesWithoutPolicy(endpoints));
        var policies = SecurityProbe.PoliciesByRoute(endpoints);
        Assert.Subset(policies.Keys.ToHashSet(), PublicRoutes.ToHashSet());
        foreach (var (route, names) in policies)
        {
            var expected = PublicRoutes.Contains(route) ? RecSysPolicies.PublicRead : RecSysPolicies.Admin;
            Assert.True(names.SequenceEqual([expected]), $"{route} names [{string.Join(", ", names)}]; expected {expected}");
        }

        Assert.All(SecurityProbe.AnonymousRoutes(endpoints), route => Assert.Matches("^(GET|\\*) /(health|alive|openapi/)", route));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not-a-key")]
    public async Task No_key_or_an_unknown_key_gets_401_problem_json(string? key)
    {
        using var app = Start();
        using var client = app.CreateClient();

        using var response = await client.SendAsync(SecurityProbe.Request(HttpMethod.Get, "/v1/recommendations/u1", key));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(401, body.RootElement.GetProperty("status").GetInt32());
        Assert.Equal(0, _retrieval.Calls);
    }

    [Theory]
    [InlineData("GET", "/v1/models")]
    [InlineData("GET", "/v1/rollout")]
    [InlineData("POST", "/v1/rollout")]
    [InlineData("POST", "/v1/rollout/promote")]
    [InlineData("POST", "/v1/rollout/rollback")]
    public async Task The_model_registry_and_rollout_routes_refuse_no_key_401_and_a_reader_key_403(string method, string path)
    {
        using var app = Start();
        using var client = app.CreateClient();
        var routes = SecurityProbe.PoliciesByRoute(app.Services.GetRequiredService<EndpointDataSource>());
        Assert.Equal([RecSysPolicies.Admin], routes[$"{method} {path}"]);

        using var anonymous = await client.SendAsync(SecurityProbe.Request(new HttpMethod(method), path, null));
        using var reader = await client.SendAsync(SecurityProbe.Request(new HttpMethod(method), path, SecurityProbe.ReaderKey));
        using var admin = await client.SendAsync(SecurityProbe.Request(new HttpMethod(method), path, SecurityProbe.AdminKey));

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal("application/problem+json", anonymous.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.Forbidden, reader.StatusCode);
        // Past authorization: no registry is configured here, so the admin gets the API's own problem (404), or 400 for a bodiless POST.
        Assert.Contains(admin.StatusCode, new[] { HttpStatusCode.NotFound, HttpStatusCode.BadRequest });
    }

    [Fact]
    public async Task A_reader_key_gets_recommendations_and_ranking_sends_its_own_key_to_retrieval()
    {
        _retrieval.Release();
        using var app = Start();
        using var client = app.CreateClient();

        using var response = await client.SendAsync(SecurityProbe.Request(HttpMethod.Get, "/v1/recommendations/u1", SecurityProbe.ReaderKey));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<RecommendationResponse>(JsonDefaults.Options);
        Assert.Equal(["a"], body!.Items.Select(i => i.ItemId));
        Assert.Equal(RetrievalKey, _retrieval.LastApiKey);
    }

    [Fact]
    public void The_ranking_caps_concurrent_requests_by_default()
    {
        using var app = Start();
        var limits = app.Services.GetRequiredService<IOptions<RateLimitingOptions>>().Value;
        Assert.True(limits.MaxConcurrentRequests > 0);
        Assert.NotNull(limits.ConcurrencyTargetP99);
    }

    [Fact]
    public async Task Over_the_concurrency_cap_a_request_gets_429_with_retry_after_at_once()
    {
        using var app = Start(web => web.UseSetting("RecSys:RateLimiting:MaxConcurrentRequests", "1"));
        using var client = app.CreateClient();

        // The first request holds the only permit while Retrieval is gated; the second must be refused, not queued.
        var first = client.SendAsync(SecurityProbe.Request(HttpMethod.Get, "/v1/recommendations/u1", SecurityProbe.ReaderKey));
        await _retrieval.Entered.WaitAsync(TimeSpan.FromSeconds(30));
        using (var second = await client.SendAsync(SecurityProbe.Request(HttpMethod.Get, "/v1/recommendations/u2", SecurityProbe.ReaderKey)))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
            Assert.NotNull(second.Headers.RetryAfter);
            Assert.Equal("application/problem+json", second.Content.Headers.ContentType?.MediaType);
        }

        _retrieval.Release();
        using var admitted = await first;
        Assert.Equal(HttpStatusCode.OK, admitted.StatusCode);
    }

    /// <summary>Retrieval that answers one candidate once released, and records the key Ranking sent.</summary>
    private sealed class GatedRetrieval : HttpMessageHandler
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _calls;

        public Task Entered => _entered.Task;

        public int Calls => Volatile.Read(ref _calls);

        public string? LastApiKey { get; private set; }

        public void Release() => _released.TrySetResult();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            LastApiKey = request.Headers.TryGetValues(ApiKeyAuthenticationHandler.HeaderName, out var keys) ? keys.Single() : null;
            _entered.TrySetResult();
            await _released.Task.WaitAsync(cancellationToken);
            var asked = await request.Content!.ReadFromJsonAsync<CandidateRequest>(JsonDefaults.Options, cancellationToken);
            return new HttpResponseMessage(HttpStatusCode.OK)
            {
                Content = JsonContent.Create(new CandidateResponse(asked!.UserId!, [new("a", 1, ["trending"])], [], [], 1.0), options: JsonDefaults.Options),
            };
        }
    }
}
