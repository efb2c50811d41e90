using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using RecSys.Core.Contracts;
using RecSys.Learning.Registry;
using RecSys.Ranking.Feedback;
using RecSys.Ranking.Rollout;
using RecSys.Ranking.Serving;
using RecSys.Ranking.Services;
using RecSys.Rollout;
using RegistryKinds = RecSys.Learning.Registry.ModelKinds;

namespace RecSys.Ranking.Tests.Rollout.Simulation;

/// <summary>The sizes of a pipeline simulation; the stage minima go to <c>Ranking:Rollout</c>.</summary>
public sealed record PipelineSimulationSettings
{
    /// <summary>Requests served per simulated minute (users drawn uniformly).</summary>
    public int RequestsPerMinute { get; init; } = 100;

    /// <summary>Candidates Retrieval answers per request (random items of the catalog).</summary>
    public int CandidatesPerRequest { get; init; } = 30;

    /// <summary>Items asked for per request (<c>count</c>): the list the user sees and may click.</summary>
    public int Shown { get; init; } = 10;

    /// <summary>Requests in flight at once within a minute (the main stage batches across them).</summary>
    public int Concurrency { get; init; } = 8;

    /// <summary>The longest simulated time one rollout may take before the driver gives up on it.</summary>
    public TimeSpan Limit { get; init; } = TimeSpan.FromHours(3);

    public IReadOnlyDictionary<string, string> RolloutSettings { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["GateInterval"] = "00:02:00",
        ["CanaryPercent"] = "5",
        ["Shadow:MinDuration"] = "00:04:00",
        ["Shadow:MinRequests"] = "300",
        ["Canary:MinDuration"] = "00:20:00",
        ["Canary:MinRequests"] = "50",
        ["Ramp10:MinDuration"] = "00:02:00",
        ["Ramp10:MinRequests"] = "10",
        ["Ramp25:MinDuration"] = "00:02:00",
        ["Ramp25:MinRequests"] = "50",
        ["Ramp50:MinDuration"] = "00:02:00",
        ["Ramp50:MinRequests"] = "100",
        ["Ramp100:MinDuration"] = "00:02:00",
        ["Ramp100:MinRequests"] = "150",
        // The mixture's spread matched to the changes this world produces (CTR ≈ 0.25, models differ by a few points); the
        // always-valid guarantee holds for any value, only the power depends on it.
        ["CtrMixtureStdDev"] = "0.03",
        ["MinImpressions"] = "200",
        ["MinErrorSamples"] = "20",
        ["MinLatencySamples"] = "20",
        // p95: its distribution-free bounds exist with the few dozen candidate requests of a small canary.
        ["LatencyQuantile"] = "0.95",
        ["MinScoreSamples"] = "500",
        ["ScoreSampleSize"] = "2000",
        ["MaxShadowInFlight"] = "1024",
    };
}

/// <summary>How one rollout ended, with the CTR each version earned on the lists it served while the candidate served.</summary>
public sealed record PipelineRolloutResult(
    RolloutStatus Final,
    TimeSpan Elapsed,
    long Requests,
    (long Impressions, long Clicks) Production,
    (long Impressions, long Clicks) Candidate)
{
    public double ProductionCtr => Production.Impressions == 0 ? double.NaN : (double)Production.Clicks / Production.Impressions;

    public double CandidateCtr => Candidate.Impressions == 0 ? double.NaN : (double)Candidate.Clicks / Candidate.Impressions;
}

/// <summary>
/// Rollouts through the real Ranking service in process (TestServer): HTTP <c>/v1/recommendations</c>, the real feature
/// provider over the world's embeddings in a real (embedded) Garnet, ONNX rankers in a model registry, the rollout's routing,
/// shadow scoring, recorder and gates on a fake rollout clock, and the feedback loop: Ranking posts impressions to the event
/// log, the simulated users click what the responses showed according to their planted tastes, clients post the clicks with the
/// request id, and Ranking's <see cref="FeedbackPoller"/> reads both back every simulated minute. Only Retrieval (random
/// candidates) and the FeatureServer's event log (<see cref="SimulatedEventLog"/>) are stand-ins. One host serves every rollout
/// in turn: each starts from a freshly activated production release, so rollouts are independent.
/// </summary>
public sealed class PipelineSimulation : IAsyncDisposable
{
    private static readonly DateTimeOffset Epoch = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly PipelineWorld _world;
    private readonly PipelineSimulationSettings _settings;
    private readonly string _root;
    private readonly ModelRegistry _registry;
    private readonly FakeTimeProvider _clock = new(Epoch);
    private readonly SimulatedEventLog _log = new();
    private readonly WorldRetrieval _retrieval;
    private readonly WebApplicationFactory<RankingOptions> _factory;
    private readonly HttpClient _client;
    private int _rollouts;

    public PipelineSimulation(PipelineWorld world, string storeConnectionString, string root, PipelineSimulationSettings? settings = null, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(world);
        _world = world;
        _settings = settings ?? new PipelineSimulationSettings();
        _root = root;
        _registry = new ModelRegistry(root);
        _retrieval = new WorldRetrieval(world, _settings.CandidatesPerRequest, seed);
        Directory.CreateDirectory(Path.Combine(root, RegistryKinds.Rankers));
        // A first production release, so that the service starts serving learned rankings.
        ActivateProduction(new WorldModel(45), "p0");
        _factory = new WebApplicationFactory<RankingOptions>().WithWebHostBuilder(web =>
        {
            web.UseSetting("ConnectionStrings:online-store", storeConnectionString);
            web.UseSetting("Ranking:RetrievalBaseAddress", "http://retrieval.sim");
            web.UseSetting("Ranking:CandidateCount", _settings.CandidatesPerRequest.ToString(CultureInfo.InvariantCulture));
            web.UseSetting("RecSys:Security:Mode", "Open");
            // Thousands of requests per rollout: information logs would drown the rollbacks' Error lines.
            web.UseSetting("Logging:LogLevel:Default", "Warning");
            // One simulated client sends far faster than a person: the per-client bucket would shed it.
            web.UseSetting("RecSys:RateLimiting:PerClientTokensPerSecond", "0");
            web.UseSetting("Ranking:Models:Path", Path.Combine(root, RegistryKinds.Rankers));
            web.UseSetting("Ranking:Models:PreRankKeep", _settings.CandidatesPerRequest.ToString(CultureInfo.InvariantCulture));
            web.UseSetting("Ranking:Fallback:ModelStageTimeout", "00:00:30");
            // A machine shared with builds can stall an in-process call past the production timeouts: degraded answers would
            // serve lists the world's models did not rank.
            web.UseSetting("Ranking:RetrievalTimeout", "00:00:30");
            web.UseSetting("Ranking:RetrievalAttemptTimeout", "00:00:10");
            // Diversity (MMR on the embeddings) swaps taste-driven top items, which lie close together, for lower-scored ones, and
            // leaves norm-driven ones alone: the served score distributions of models of different θ would differ, and the KS gate
            // would stop a worse model in shadow. Off, every model serves the same distribution and only the CTR can tell them apart.
            web.UseSetting("Ranking:PostProcessing:Diversity:Enabled", "false");
            // No catalog table: items are read per request through the store's cache (the world has no catalog records).
            web.UseSetting("Ranking:Features:ItemTableRefresh", "00:00:00");
            web.UseSetting("Ranking:Feedback:FeatureServerBaseAddress", "http://featureserver.sim");
            web.UseSetting("Ranking:Feedback:ExportApiKey", "simulation-admin-key");
            web.UseSetting("Ranking:Feedback:FlushInterval", "00:00:00.010");
            web.UseSetting("Ranking:Feedback:PollInterval", "00:01:00");
            web.UseSetting("Ranking:Feedback:BatchSize", "5000");
            foreach (var (key, value) in _settings.RolloutSettings)
            {
                web.UseSetting("Ranking:Rollout:" + key, value);
            }

            web.ConfigureServices(services =>
            {
                services.AddHttpClient<RetrievalClient>().ConfigurePrimaryHttpMessageHandler(() => _retrieval);
                services.AddHttpClient(ImpressionLogger.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => _log);
                services.AddKeyedSingleton<TimeProvider>(RolloutExtensions.ClockKey, _clock);
            });
        });
        _client = _factory.CreateClient();
        Releases.Refresh();
    }

    public IServiceProvider Services => _factory.Services;

    public HttpClient Client => _client;

    public FakeTimeProvider Clock => _clock;

    public ModelRegistry Registry => _registry;

    private RankerReleaseManager Releases => _factory.Services.GetRequiredService<RankerReleaseManager>();

    private RolloutEngine Engine => _factory.Services.GetRequiredService<RankingRollout>().Engine!;

    /// <summary>
    /// One rollout: <paramref name="production"/> is written, registered and activated as a fresh release, then
    /// <paramref name="candidate"/> (null: the same weights under another version) is registered and rolled out through
    /// <c>POST /v1/rollout</c>; simulated minutes are served until the rollout completes or rolls back.
    /// </summary>
    public async Task<PipelineRolloutResult> RunAsync(WorldModel production, WorldModel? candidate, int seed, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(production);
        if (Engine.Status().State is RolloutState.Running or RolloutState.ReadyToPromote)
        {
            // A rollout left running by a run that failed or hit the limit: end it so this one starts clean.
            using var rolledBack = await _client.PostAsJsonAsync("/v1/rollout/rollback", new { reason = "simulation: the previous run did not finish" }, JsonDefaults.Options, cancellationToken);
            rolledBack.EnsureSuccessStatusCode();
        }

        var run = Interlocked.Increment(ref _rollouts);
        var productionVersion = $"p{run}";
        var candidateVersion = $"c{run}";
        ActivateProduction(production, productionVersion);
        if (!Releases.Refresh() || Releases.Current?.Release != productionVersion)
        {
            throw new InvalidOperationException($"Production release {productionVersion} did not load: {Releases.LastError}");
        }

        WriteAndRegister(candidate ?? production, candidateVersion);
        using (var started = await _client.PostAsJsonAsync("/v1/rollout", new { version = candidateVersion }, JsonDefaults.Options, cancellationToken))
        {
            if (started.StatusCode != HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"POST /v1/rollout answered {(int)started.StatusCode}: {await started.Content.ReadAsStringAsync(cancellationToken)}");
            }
        }

        var random = new Random(seed);
        var begin = _clock.GetUtcNow();
        long requests = 0;
        var shown = new Dictionary<string, (long Impressions, long Clicks)>(StringComparer.Ordinal);
        var serving = _factory.Services.GetRequiredService<RolloutServing>();
        var status = Engine.Status();
        while (status.State is RolloutState.Running or RolloutState.ReadyToPromote && _clock.GetUtcNow() - begin < _settings.Limit)
        {
            var users = Enumerable.Range(0, _settings.RequestsPerMinute).Select(_ => random.Next(_world.Users)).ToArray();
            var responses = new RecommendationResponse[users.Length];
            var impressionsBefore = _log.Impressions;
            await Parallel.ForEachAsync(Enumerable.Range(0, users.Length), new ParallelOptions { MaxDegreeOfParallelism = _settings.Concurrency, CancellationToken = cancellationToken },
                async (k, ct) => responses[k] = (await _client.GetFromJsonAsync<RecommendationResponse>(
                    $"/v1/recommendations/{PipelineWorld.UserId(users[k])}?count={_settings.Shown}", JsonDefaults.Options, ct))!);
            requests += users.Length;
            // Shadow scorings and impression sends finish before the clock moves, so each simulated minute is whole.
            await serving.WhenShadowIdleAsync().WaitAsync(TimeSpan.FromMinutes(2), cancellationToken);
            var expected = impressionsBefore + responses.Sum(r => (long)r.Items.Count);
            await WaitForAsync(() => _log.Impressions >= expected, cancellationToken);

            foreach (var response in responses)
            {
                var user = PipelineWorld.UserIndex(response.UserId);
                var clicks = 0;
                foreach (var item in response.Items)
                {
                    if (random.NextDouble() < _world.ClickProbability(user, PipelineWorld.ItemIndex(item.ItemId)))
                    {
                        clicks++;
                        _log.Append(new EventDto(Guid.NewGuid().ToString("N"), response.UserId, item.ItemId, null, "click", null, _clock.GetUtcNow())
                        {
                            RequestId = response.Metadata.RequestId,
                        });
                    }
                }

                var version = response.Metadata.RankerVersion;
                var (i, c) = shown.GetValueOrDefault(version);
                shown[version] = (i + response.Items.Count, c + clicks);
            }

            // The poller reads this minute's impressions and clicks, and the gate timer evaluates when its interval is due.
            _clock.Advance(TimeSpan.FromMinutes(1));
            status = Engine.Status();
        }

        return new PipelineRolloutResult(status, _clock.GetUtcNow() - begin, requests, shown.GetValueOrDefault(productionVersion), shown.GetValueOrDefault(candidateVersion));
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _factory.DisposeAsync();
        _retrieval.Dispose();
        _log.Dispose();
    }

    private void ActivateProduction(WorldModel model, string version)
    {
        WriteAndRegister(model, version);
        _registry.Activate(RegistryKinds.Rankers, version);
    }

    private void WriteAndRegister(WorldModel model, string version)
    {
        model.Write(_registry.FolderFor(RegistryKinds.Rankers, version), version, _clock.GetUtcNow());
        _registry.Register(new ModelRegistration(RegistryKinds.Rankers, version, _clock.GetUtcNow(), new TrainingRange(null, null, 0), [],
            new Dictionary<string, double>(StringComparer.Ordinal) { ["taste_angle_degrees"] = model.TasteAngleDegrees }));
    }

    private static async Task WaitForAsync(Func<bool> condition, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("Ranking's impressions did not reach the event log within 2 minutes.");
            }

            await Task.Delay(5, cancellationToken);
        }
    }

    /// <summary>Retrieval at the HTTP boundary: random distinct items of the catalog for every request.</summary>
    private sealed class WorldRetrieval(PipelineWorld world, int count, int seed) : HttpMessageHandler
    {
        private readonly Random _random = new(seed);
        private readonly Lock _gate = new();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            // As bytes: a retried attempt sends the same content again, and a JSON stream read would have closed it.
            var bytes = await request.Content!.ReadAsByteArrayAsync(cancellationToken);
            var body = System.Text.Json.JsonSerializer.Deserialize<CandidateRequest>(bytes, JsonDefaults.Options);
            var items = new HashSet<int>();
            lock (_gate)
            {
                while (items.Count < Math.Min(count, world.Items))
                {
                    items.Add(_random.Next(world.Items));
                }
            }

            var candidates = items.Select((item, rank) => new CandidateDto(PipelineWorld.ItemId(item), 1.0 / (rank + 1), ["world"])).ToArray();
            return new HttpResponseMessage(HttpStatusCode.OK)
            {
                Content = JsonContent.Create(new CandidateResponse(body!.UserId!, candidates, [], [], 1.0), options: JsonDefaults.Options),
            };
        }
    }
}
