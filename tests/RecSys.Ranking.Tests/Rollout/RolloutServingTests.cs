using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using RecSys.Core.Contracts;
using RecSys.Learning.Registry;
using RecSys.Ranking.Feedback;
using RecSys.Ranking.Features;
using RecSys.Ranking.Rollout;
using RecSys.Ranking.Serving;
using RecSys.Ranking.Services;
using RecSys.Ranking.Tests.Models;
using RecSys.Rollout;
using RecSys.TestSupport;

namespace RecSys.Ranking.Tests.Rollout;

/// <summary>
/// Rollouts through the real Ranking pipeline (HTTP, routing, both releases loaded, shadow scoring, recorder, gates on a
/// fake rollout clock, registry): tiny ONNX releases written with the learning library, registered in a model registry.
/// </summary>
public sealed class RolloutServingTests : IClassFixture<EmbeddedGarnet>, IDisposable
{
    private static readonly TimeSpan GateInterval = TimeSpan.FromMinutes(1);
    private static readonly string[] Users = [.. Enumerable.Range(0, 300).Select(i => $"u{i}")];

    private readonly EmbeddedGarnet _garnet;
    private readonly string _root = Path.Combine(Path.GetTempPath(), "recsys-rollout-tests", Guid.NewGuid().ToString("N"));
    private readonly ModelRegistry _registry;
    private readonly TestReleases _releases;
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero));
    private readonly FaultFeatureProvider _features;
    private readonly ScriptedRetrieval _retrieval = new();

    public RolloutServingTests(EmbeddedGarnet garnet)
    {
        _garnet = garnet;
        _registry = new ModelRegistry(_root);
        _releases = new TestReleases(Path.Combine(_root, ModelKinds.Rankers));
        _features = new FaultFeatureProvider(_clock);
        var candidates = Enumerable.Range(0, 120).Select(i => new CandidateDto($"item{i}", 1.0 / (i + 1), ["content"])).ToArray();
        _retrieval.Script = (_, r, _) => Task.FromResult(ScriptedRetrieval.Ok(new CandidateResponse(r.UserId!, candidates, [], [], 1.0)));
        Register("v1");
        _registry.Activate(ModelKinds.Rankers, "v1");
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // A session may still map a file; the temp folder is cleaned by the OS.
        }
    }

    public static TheoryData<string, string> BadCandidates => new()
    {
        { "throws", RolloutGates.ErrorRate },
        { "slow", RolloutGates.Latency },
        // Post-processing refuses NaN logits (it throws), so a NaN model shows as failed requests, not as invalid scores.
        { "nan", RolloutGates.ErrorRate },
        { "shifted", RolloutGates.ScoreDistribution },
        { "does-not-load", RolloutGates.Load },
    };

    [Theory]
    [MemberData(nameof(BadCandidates))]
    public async Task A_bad_candidate_is_rolled_back_within_one_gate_interval_and_responses_are_the_last_good_models_again(string fault, string gate)
    {
        switch (fault)
        {
            case "throws":
                Register("v2", mainFeatures: [.. TestReleases.MainFeatures, FaultFeatureProvider.Throw]);
                break;
            case "slow":
                Register("v2", mainFeatures: [.. TestReleases.MainFeatures, FaultFeatureProvider.Slow]);
                break;
            case "nan":
                Register("v2", outputBias: float.NaN);
                break;
            case "shifted":
                Register("v2", outputBias: 4f);
                break;
            default:
                Register("v2", mainFeatures: ["ctr", "no-such-feature"]);
                break;
        }

        using var app = Start();
        using var client = app.CreateClient();
        var before = new Dictionary<string, RecommendationResponse>(StringComparer.Ordinal);
        foreach (var user in Users.Take(40))
        {
            before[user] = await RecommendAsync(client, user);
        }

        var status = await StartRolloutAsync(client, "v2");
        if (fault != "does-not-load")
        {
            Assert.Equal(RolloutState.Running, status.State);
            await ServeAsync(app, client, Users);
            var started = _clock.GetUtcNow();
            _clock.Advance(GateInterval);
            status = (await client.GetFromJsonAsync<RolloutStatus>("/v1/rollout", JsonDefaults.Options))!;
            Assert.True(status.Rollout!.EndedAt <= started + GateInterval, $"rolled back at {status.Rollout.EndedAt}, started {started}");
        }

        Assert.Equal(RolloutState.RolledBack, status.State);
        Assert.Equal(gate, status.Alert!.Gate);
        Assert.Equal(RolloutStage.Shadow, status.Alert.Stage);
        var entry = _registry.Get(ModelKinds.Rankers, "v2")!;
        Assert.Equal(ModelState.Failed, entry.State);
        Assert.StartsWith(gate, entry.Reason, StringComparison.Ordinal);
        Assert.Equal(ModelState.Active, _registry.Get(ModelKinds.Rankers, "v1")!.State);
        Assert.DoesNotContain("v2", app.Services.GetRequiredService<RankerReleaseManager>().PinnedVersions);

        foreach (var (user, expected) in before)
        {
            var after = await RecommendAsync(client, user);
            Assert.Equal("v1", after.Metadata.RankerVersion);
            Assert.Equal(expected.Items.Select(i => (i.ItemId, i.Score)), after.Items.Select(i => (i.ItemId, i.Score)));
            Assert.False(after.Metadata.Models!.ContainsKey("rollout"));
        }
    }

    [Fact]
    public async Task An_identical_candidate_passes_shadow_then_serves_its_canary_buckets_and_the_metadata_says_why()
    {
        Register("v2");
        using var app = Start(shadowMinutes: 0);
        using var client = app.CreateClient();
        await StartRolloutAsync(client, "v2");
        await ServeAsync(app, client, Users);

        _clock.Advance(GateInterval);

        var status = (await client.GetFromJsonAsync<RolloutStatus>("/v1/rollout", JsonDefaults.Options))!;
        Assert.Equal(RolloutStage.Canary, status.Rollout!.Stage);
        Assert.Equal(5, status.CandidatePercent);
        var served = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var user in Enumerable.Range(0, 400).Select(i => $"w{i}"))
        {
            var response = await RecommendAsync(client, user);
            var bucket = StickyRouting.BucketOf(user, "rankers:v2");
            var reason = response.Metadata.Models!["rollout"];
            Assert.Equal(bucket < 500 ? "v2" : "v1", response.Metadata.RankerVersion);
            Assert.Contains($"bucket {bucket} {(bucket < 500 ? "<" : ">=")} 500", reason, StringComparison.Ordinal);
            Assert.StartsWith(bucket < 500 ? "v2: candidate" : "v1: production", reason, StringComparison.Ordinal);
            served[response.Metadata.RankerVersion] = served.GetValueOrDefault(response.Metadata.RankerVersion) + 1;
        }

        Assert.True(served.GetValueOrDefault("v2") > 0, "no user landed in the 5 % canary");
        var metrics = (await client.GetFromJsonAsync<RolloutStatus>("/v1/rollout", JsonDefaults.Options))!;
        Assert.Equal(served["v2"], metrics.Candidate!.Requests);
        Assert.Equal(served["v1"], metrics.Production!.Requests);
    }

    [Fact]
    public async Task Sticky_assignment_is_the_same_on_another_replica_and_after_a_restart()
    {
        Register("v2");
        string[] users = [.. Enumerable.Range(0, 300).Select(i => $"s{i}")];
        Dictionary<string, string> first;
        using (var replicaA = Start())
        {
            using var client = replicaA.CreateClient();
            await StartRolloutAsync(client, "v2");
            using var promoted = await client.PostAsJsonAsync("/v1/rollout/promote", new RolloutActionRequestBody("test: go to canary"), JsonDefaults.Options);
            Assert.Equal(HttpStatusCode.OK, promoted.StatusCode);
            first = await VersionsAsync(client, users);

            // A second replica on the same data root, started while the first still runs.
            using var replicaB = Start();
            using var clientB = replicaB.CreateClient();
            Assert.Equal(first, await VersionsAsync(clientB, users));
        }

        // The first replica restarted: it resumes the canary from the state file and routes everyone as before.
        using var restarted = Start();
        using var again = restarted.CreateClient();
        Assert.Equal(first, await VersionsAsync(again, users));
        Assert.Contains("v2", first.Values);
        Assert.Contains("v1", first.Values);
    }

    [Fact]
    public async Task The_models_list_shows_offline_metrics_and_states_and_bad_requests_are_problems()
    {
        Register("v2");
        using var app = Start();
        using var client = app.CreateClient();

        var models = (await client.GetFromJsonAsync<List<Apis.ModelVersionDto>>("/v1/models", JsonDefaults.Options))!;
        Assert.Equal(["v1", "v2"], models.Select(m => m.Version));
        Assert.Equal(0.5, models[1].OfflineMetrics["ndcg@10"]);
        Assert.Equal(ModelState.Active, models[0].State);
        Assert.True(models[0].Loaded);
        Assert.False(models[1].Loaded);

        using var noVersion = await client.PostAsJsonAsync("/v1/rollout", new { }, JsonDefaults.Options);
        Assert.Equal(HttpStatusCode.BadRequest, noVersion.StatusCode);
        using var unknown = await client.PostAsJsonAsync("/v1/rollout", new { version = "v9" }, JsonDefaults.Options);
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Equal("application/problem+json", unknown.Content.Headers.ContentType?.MediaType);
        using var nothingRunning = await client.PostAsJsonAsync("/v1/rollout/rollback", new { reason = "test" }, JsonDefaults.Options);
        Assert.Equal(HttpStatusCode.Conflict, nothingRunning.StatusCode);
        using var noReason = await client.PostAsJsonAsync("/v1/rollout/rollback", new { }, JsonDefaults.Options);
        Assert.Equal(HttpStatusCode.BadRequest, noReason.StatusCode);
    }

    [Fact]
    public async Task Impressions_and_clicks_read_from_the_event_log_are_joined_by_request_id_per_version()
    {
        Register("v2");
        var log = new ExportStub();
        using var app = Start(shadowMinutes: 0, featureServer: log);
        using var client = app.CreateClient();
        var poller = app.Services.GetRequiredService<FeedbackPoller>();
        await StartRolloutAsync(client, "v2");

        await poller.PollOnceAsync(CancellationToken.None); // after=end: only the position
        log.Lines =
        [
            .. Impressions("r1", "v1", 3), Click("r1"), Click("r1"),
            .. Impressions("r2", "v2", 2), Click("r2"),
            Click("r-unknown"),
            .. Impressions("r3", "v9", 4), // a version outside the rollout is ignored
        ];
        await poller.PollOnceAsync(CancellationToken.None);

        Assert.Equal(["end", "40"], log.Cursors);
        var status = (await client.GetFromJsonAsync<RolloutStatus>("/v1/rollout", JsonDefaults.Options))!;
        Assert.Equal((3, 2), (status.Production!.Impressions, status.Production.Clicks));
        Assert.Equal((2, 1), (status.Candidate!.Impressions, status.Candidate.Clicks));
    }

    private static IEnumerable<string> Impressions(string requestId, string version, int count) =>
        Enumerable.Range(0, count).Select(i => Line(new EventDto($"{requestId}:{i}", "u1", $"item{i}", null, "impression", null, DateTimeOffset.UnixEpoch)
        {
            RequestId = requestId,
            ModelVersion = version,
        }));

    private static string Click(string requestId) =>
        Line(new EventDto(Guid.NewGuid().ToString("N"), "u1", "item0", null, "click", null, DateTimeOffset.UnixEpoch) { RequestId = requestId });

    private static string Line(EventDto e) => System.Text.Json.JsonSerializer.Serialize(e, JsonDefaults.Options);

    /// <summary>The FeatureServer's event export: the lines given, end position 40, and the cursors asked for.</summary>
    private sealed class ExportStub : HttpMessageHandler
    {
        public IReadOnlyList<string> Lines { get; set; } = [];

        public List<string> Cursors { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.RequestUri!.AbsolutePath != "/v1/export/events")
            {
                // Impressions Ranking logs itself are accepted and not echoed: the test feeds the log's content.
                return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = JsonContent.Create(new EventBatchResponse(0, 0, [], 0)) });
            }

            var after = System.Web.HttpUtility.ParseQueryString(request.RequestUri.Query)["after"]!;
            Cursors.Add(after);
            var response = new HttpResponseMessage(HttpStatusCode.OK)
            {
                Content = new StringContent(after == "end" ? "" : string.Join("\n", Lines) + "\n", System.Text.Encoding.UTF8, "application/x-ndjson"),
            };
            response.Headers.Add(FeedbackPoller.EndPositionHeader, "40");
            return Task.FromResult(response);
        }
    }

    private void Register(string version, string[]? mainFeatures = null, float? outputBias = null)
    {
        _releases.Write(version, seed: 1, mainFeatures, outputBias);
        _registry.Register(new ModelRegistration(ModelKinds.Rankers, version, _clock.GetUtcNow(), new TrainingRange(null, null, 0), [],
            new Dictionary<string, double>(StringComparer.Ordinal) { ["ndcg@10"] = 0.5 }));
    }

    private WebApplicationFactory<Program> Start(int shadowMinutes = 10, HttpMessageHandler? featureServer = null)
    {
        var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("ConnectionStrings:online-store", _garnet.ConnectionString);
            web.UseSetting("Ranking:RetrievalBaseAddress", "http://retrieval.test");
            web.UseSetting("RecSys:Security:Mode", "Open");
            web.UseSetting("Ranking:Models:Path", Path.Combine(_root, ModelKinds.Rankers));
            web.UseSetting("Ranking:Models:PreRankKeep", "50");
            web.UseSetting("Ranking:Rollout:GateInterval", GateInterval.ToString());
            web.UseSetting("Ranking:Rollout:CanaryPercent", "5");
            web.UseSetting("Ranking:Rollout:Shadow:MinDuration", TimeSpan.FromMinutes(shadowMinutes).ToString());
            web.UseSetting("Ranking:Rollout:Shadow:MinRequests", "100");
            web.UseSetting("Ranking:Rollout:MinErrorSamples", "20");
            web.UseSetting("Ranking:Rollout:MinLatencySamples", "200");
            // p95 rather than p99: its distribution-free bounds are defined with the few hundred requests a test serves.
            web.UseSetting("Ranking:Rollout:LatencyQuantile", "0.95");
            web.UseSetting("Ranking:Rollout:MinScoreSamples", "200");
            web.UseSetting("Ranking:Rollout:MaxShadowInFlight", "1024");
            if (featureServer is not null)
            {
                web.UseSetting("Ranking:Feedback:FeatureServerBaseAddress", "http://featureserver.test");
                web.UseSetting("Ranking:Feedback:ExportApiKey", "admin-key-for-the-export");
            }

            web.ConfigureServices(services =>
            {
                services.AddHttpClient<RetrievalClient>().ConfigurePrimaryHttpMessageHandler(() => _retrieval);
                if (featureServer is not null)
                {
                    services.AddHttpClient(ImpressionLogger.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => featureServer);
                }

                services.AddSingleton<IRankingFeatureProvider>(_features);
                services.AddKeyedSingleton<TimeProvider>(RolloutExtensions.ClockKey, _clock);
            });
        });
        // The watcher loads in the background; loading here makes the tests independent of its timing.
        factory.Services.GetRequiredService<RankerReleaseManager>().Refresh();
        return factory;
    }

    private static async Task<RolloutStatus> StartRolloutAsync(HttpClient client, string version)
    {
        using var response = await client.PostAsJsonAsync("/v1/rollout", new { version }, JsonDefaults.Options);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<RolloutStatus>(JsonDefaults.Options))!;
    }

    /// <summary>Serves each user once, waiting for the shadow scoring of each request so that their clock advances never overlap.</summary>
    private static async Task ServeAsync(WebApplicationFactory<Program> app, HttpClient client, IEnumerable<string> users)
    {
        var serving = app.Services.GetRequiredService<RolloutServing>();
        foreach (var user in users)
        {
            var response = await RecommendAsync(client, user);
            Assert.Equal("v1", response.Metadata.RankerVersion);
            await serving.WhenShadowIdleAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
    }

    private static async Task<Dictionary<string, string>> VersionsAsync(HttpClient client, IEnumerable<string> users)
    {
        var versions = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var user in users)
        {
            versions[user] = (await RecommendAsync(client, user)).Metadata.RankerVersion;
        }

        return versions;
    }

    private static async Task<RecommendationResponse> RecommendAsync(HttpClient client, string user) =>
        (await client.GetFromJsonAsync<RecommendationResponse>($"/v1/recommendations/{user}?count=10", JsonDefaults.Options))!;

    private sealed record RolloutActionRequestBody(string Reason);
}

/// <summary>
/// The hash features of <see cref="HashFeatureProvider"/> on a fake clock: every fetch takes 1 ms of rollout time, a
/// release that asks for <see cref="Slow"/> takes 50 ms, and one that asks for <see cref="Throw"/> fails.
/// </summary>
public sealed class FaultFeatureProvider(FakeTimeProvider clock) : IRankingFeatureProvider
{
    public const string Throw = "fault_throw";
    public const string Slow = "fault_slow";

    private readonly HashFeatureProvider _inner = new([.. TestReleases.PreFeatures, .. TestReleases.MainFeatures, .. TestReleases.StudentFeatures, Throw, Slow]);

    public bool Supports(string featureName) => _inner.Supports(featureName);

    public ValueTask<FeatureMatrix> FetchAsync(RankingQuery query, IReadOnlyList<RankingCandidate> candidates, IReadOnlyList<string> columns, CancellationToken cancellationToken)
    {
        if (columns.Contains(Throw))
        {
            throw new InvalidOperationException("the candidate's scoring failed");
        }

        clock.Advance(TimeSpan.FromMilliseconds(columns.Contains(Slow) ? 50 : 1));
        return _inner.FetchAsync(query, candidates, columns, cancellationToken);
    }
}
