using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using RecSys.Learning.Registry;

namespace RecSys.Rollout.Tests;

public sealed class RolloutEngineTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("rollout-engine-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly FakeVersionStore _store = new("v1", "v2", "v3");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private RolloutOptions Options(bool autoAdvance = true) => new()
    {
        StateDirectory = Path.Combine(_root, "state"),
        CanaryPercent = 5,
        AutoAdvance = autoAdvance,
        GateInterval = TimeSpan.FromMinutes(1),
        Shadow = new() { MinDuration = TimeSpan.FromMinutes(2), MinRequests = 200 },
        Canary = new() { MinDuration = TimeSpan.FromMinutes(2), MinRequests = 10 },
        MinLatencySamples = 100,
        MinScoreSamples = 100,
        ScoreSampleSize = 500,
        MinErrorSamples = 50,
    };

    private RolloutEngine Engine(RolloutOptions? options = null, ILogger<RolloutEngine>? logger = null) =>
        new(options ?? Options(), _store, _time, logger);

    /// <summary>Healthy traffic: every request routed, served and (in shadow) shadow-scored with identical, valid scores.</summary>
    private static void Serve(RolloutEngine engine, int requests, int offset = 0)
    {
        float[] scores = [0.1f, 0.4f, 0.7f];
        for (var r = offset; r < offset + requests; r++)
        {
            var decision = engine.Route($"user-{r % 997}");
            var id = $"req-{r}";
            foreach (var version in decision.ShadowVersion is null ? [decision.Version!] : new[] { decision.Version!, decision.ShadowVersion })
            {
                engine.Recorder.RecordRequest(version, TimeSpan.FromMilliseconds(3 + (r % 7)), failed: false);
                scores[0] = (r % 100) / 100f;
                engine.Recorder.RecordScores(version, id, scores);
            }

            engine.Recorder.RecordImpressions(decision.Version!, id, 3);
        }
    }

    [Fact]
    public void Invalid_options_are_refused_with_every_problem_named()
    {
        var options = Options() with { CanaryPercent = 7, StateDirectory = "", MaxScore = -1, Shadow = new() { MinDuration = TimeSpan.FromMinutes(-1) } };
        var error = Assert.Throws<ArgumentException>(() => Engine(options));
        Assert.Contains("CanaryPercent", error.Message, StringComparison.Ordinal);
        Assert.Contains("StateDirectory", error.Message, StringComparison.Ordinal);
        Assert.Contains("MinScore", error.Message, StringComparison.Ordinal);
        Assert.Contains("Shadow.MinDuration", error.Message, StringComparison.Ordinal);
        Assert.True(new RolloutOptionsValidator().Validate(null, options).Failed);
        Assert.True(new RolloutOptionsValidator().Validate(null, Options()).Succeeded);
    }

    [Fact]
    public void Start_refuses_what_cannot_be_rolled_out()
    {
        using var engine = Engine();
        Assert.Throws<ArgumentException>(() => engine.Start(" "));
        Assert.Contains("not registered", Assert.Throws<ArgumentException>(() => engine.Start("v9")).Message, StringComparison.Ordinal);
        Assert.Contains("already the production", Assert.Throws<ArgumentException>(() => engine.Start("v1")).Message, StringComparison.Ordinal);
        engine.Start("v2");
        Assert.Contains("v2 is in stage Shadow", Assert.Throws<InvalidOperationException>(() => engine.Start("v3")).Message, StringComparison.Ordinal);

        using var empty = new RolloutEngine(Options() with { StateDirectory = Path.Combine(_root, "other") }, new FakeVersionStore(null, "v2"), _time);
        Assert.Contains("No rankers version is active", Assert.Throws<InvalidOperationException>(() => empty.Start("v2")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_stage_waits_for_its_duration_and_traffic_then_advances_when_its_gates_pass()
    {
        using var engine = Engine();
        engine.StartGateTimer();
        engine.Start("v2");
        Assert.Equal(RolloutState.Running, engine.Status().State);

        Serve(engine, 300);
        _time.Advance(TimeSpan.FromMinutes(1));
        var early = engine.Status();
        Assert.Equal(RolloutStage.Shadow, early.Rollout!.Stage);
        Assert.Contains(early.Waiting, w => w.Contains("minutes", StringComparison.Ordinal));
        Assert.Equal(GateVerdict.Pass, early.Gates.Single(g => g.Gate == RolloutGates.ScoreDistribution).Verdict);
        Assert.Equal(GateVerdict.NotApplicable, early.Gates.Single(g => g.Gate == RolloutGates.Ctr).Verdict);

        _time.Advance(TimeSpan.FromMinutes(1));
        var canary = engine.Status();
        Assert.Equal(RolloutStage.Canary, canary.Rollout!.Stage);
        Assert.Equal(5, canary.CandidatePercent);
        Assert.Equal("gates passed", canary.Rollout.Transitions.Single().Cause);
        Assert.Equal(0, canary.Candidate!.Requests); // A new stage starts a new window.
    }

    [Fact]
    public void Without_automatic_advance_a_ready_stage_waits_for_a_manual_promote()
    {
        using var engine = Engine(Options(autoAdvance: false));
        engine.Start("v2");
        Assert.Contains("not ready", Assert.Throws<InvalidOperationException>(() => engine.Promote()).Message, StringComparison.Ordinal);

        Serve(engine, 300);
        _time.Advance(TimeSpan.FromMinutes(3));
        Assert.Equal(RolloutState.ReadyToPromote, engine.Evaluate().State);
        Assert.Equal(RolloutStage.Shadow, engine.Status().Rollout!.Stage);

        var promoted = engine.Promote();
        Assert.Equal(RolloutStage.Canary, promoted.Rollout!.Stage);
        Assert.Equal("promoted by an operator", promoted.Rollout.Transitions.Single().Cause);
    }

    [Fact]
    public void A_forced_promotion_records_the_reason_and_the_last_one_makes_the_candidate_production()
    {
        using var engine = Engine();
        engine.Start("v2");
        Assert.Throws<ArgumentException>(() => engine.Promote(" "));
        for (var stage = RolloutStage.Shadow; stage < RolloutStage.Production; stage++)
        {
            engine.Promote($"change ticket 12 ({stage})");
        }

        var status = engine.Status();
        Assert.Equal(RolloutState.Completed, status.State);
        Assert.All(status.Rollout!.Transitions, t => Assert.True(t.Forced));
        Assert.Equal("forced by an operator: change ticket 12 (Shadow)", status.Rollout.Transitions[0].Cause);
        Assert.Equal(["v2"], _store.Promoted);
        Assert.Equal(1, _store.CleanUps);
        Assert.Equal("v2", status.ProductionVersion);
        var decision = engine.Route("user-1");
        Assert.Equal(("v2", RouteReason.NoRollout), (decision.Version, decision.Reason));
        Assert.Throws<InvalidOperationException>(() => engine.Promote("again"));
    }

    [Fact]
    public void A_restart_resumes_the_rollout_in_its_stage_with_the_same_buckets()
    {
        var users = Enumerable.Range(0, 2_000).Select(u => $"user-{u}").ToList();
        List<RoutingDecision> before;
        using (var engine = Engine())
        {
            engine.Start("v2");
            engine.Promote("skip shadow in this test");
            before = [.. users.Select(engine.Route)];
        }

        using var restarted = Engine();
        var status = restarted.Status();
        Assert.Equal(RolloutStage.Canary, status.Rollout!.Stage);
        Assert.Equal(RolloutState.Running, status.State);
        Assert.Equal(before, users.Select(restarted.Route));
        Assert.Contains(before, d => d.ServesCandidate);

        // A second replica over the same state routes the same way.
        using var replica = new RolloutEngine(Options(), _store, new FakeTimeProvider(_time.GetUtcNow()));
        Assert.Equal(before, users.Select(replica.Route));
    }

    [Fact]
    public void A_rollback_reverts_traffic_at_once_marks_the_version_failed_and_alerts()
    {
        var logger = new ListLogger();
        var rollbacks = new List<(long Value, string? Reason)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "RecSys.Rollout" && instrument.Name == "recsys.rollout.rollbacks")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "recsys.rollout.reason")
                {
                    rollbacks.Add((value, tag.Value as string));
                }
            }
        });
        listener.Start();

        using var engine = Engine(logger: logger);
        engine.Start("v2");
        engine.Promote("to canary");
        engine.Promote("to 10 %");
        var status = engine.Rollback("dashboard: bad recommendations reported");

        Assert.Equal(RolloutState.RolledBack, status.State);
        Assert.All(Enumerable.Range(0, 3_000), u => Assert.Equal("v1", engine.Route($"user-{u}").Version));
        Assert.Equal("dashboard: bad recommendations reported", _store.Failed["v2"]);
        Assert.Equal(new RolloutAlert(_time.GetUtcNow(), "v2", RolloutStage.Ramp10, RolloutGates.Manual, "dashboard: bad recommendations reported"), status.Alert);
        Assert.Contains(rollbacks, r => r == (1, RolloutGates.Manual));
        Assert.Contains(logger.Entries, e => e.Level == LogLevel.Error && e.Message.Contains("rolled back in Ramp10", StringComparison.Ordinal));
        Assert.Throws<InvalidOperationException>(() => engine.Rollback("twice"));

        using var restarted = Engine();
        Assert.Equal(RolloutState.RolledBack, restarted.Status().State);
        Assert.Equal("v1", restarted.Route("user-1").Version);
        Assert.Contains("failed before", Assert.Throws<ArgumentException>(() => restarted.Start("v2")).Message, StringComparison.Ordinal);
        var next = restarted.Start("v3");
        Assert.Equal(("v3", RolloutStage.Shadow, RolloutState.Running), (next.Rollout!.CandidateVersion, next.Rollout.Stage, next.State));
        Assert.Null(next.Alert);
    }

    [Fact]
    public void A_failing_gate_rolls_back_automatically_at_the_next_interval()
    {
        using var engine = Engine();
        engine.StartGateTimer();
        engine.Start("v2");
        for (var r = 0; r < 100; r++)
        {
            engine.Recorder.RecordRequest("v1", TimeSpan.FromMilliseconds(3), failed: false);
            engine.Recorder.RecordRequest("v2", TimeSpan.FromMilliseconds(3), failed: r % 5 == 0);
        }

        _time.Advance(TimeSpan.FromMinutes(1));
        var status = engine.Status();
        Assert.Equal(RolloutState.RolledBack, status.State);
        Assert.Equal(RolloutGates.ErrorRate, status.Alert!.Gate);
        Assert.StartsWith("error_rate: 20 errors in 100 requests", _store.Failed["v2"], StringComparison.Ordinal);
    }

    [Fact]
    public void A_candidate_the_registry_refuses_to_activate_is_rolled_back()
    {
        using var engine = Engine();
        engine.Start("v2");
        for (var stage = RolloutStage.Shadow; stage < RolloutStage.Ramp100; stage++)
        {
            engine.Promote("test");
        }

        _store.FailPromotion = true;
        var status = engine.Promote("test");
        Assert.Equal(RolloutState.RolledBack, status.State);
        Assert.Equal(RolloutGates.Activation, status.Alert!.Gate);
        Assert.Equal("v1", engine.Route("user-1").Version);
    }

    [Fact]
    public void Clicks_join_impressions_by_request_id_within_the_attribution_window()
    {
        using var engine = Engine();
        engine.Start("v2");
        var recorder = engine.Recorder;
        recorder.RecordImpressions("v1", "a", 3);
        recorder.RecordImpressions("v1", "a", 3); // A repeated impression event is counted once.
        recorder.RecordImpressions("v9", "b", 3); // Not part of the rollout: ignored.
        recorder.RecordClick("a");
        for (var i = 0; i < 5; i++)
        {
            recorder.RecordClick("a"); // More clicks than items shown: duplicates.
        }

        recorder.RecordClick("unknown");
        recorder.RecordImpressions("v1", "late", 2);
        _time.Advance(TimeSpan.FromMinutes(31));
        recorder.Sweep();
        recorder.RecordClick("late");

        var production = engine.Status().Production!;
        Assert.Equal(5, production.Impressions);
        Assert.Equal(3, production.Clicks);
        Assert.Equal(0, recorder.AwaitingClicks);
    }

    [Fact]
    public void The_registry_adapter_activates_on_completion_and_marks_failed_on_rollback()
    {
        var registry = new ModelRegistry(Path.Combine(_root, "models"), _time);
        foreach (var version in new[] { "v1", "v2", "v3" })
        {
            var folder = registry.FolderFor(ModelKinds.Rankers, version);
            Directory.CreateDirectory(folder);
            File.WriteAllText(Path.Combine(folder, "model.onnx"), $"weights of {version}");
            registry.Register(new ModelRegistration(ModelKinds.Rankers, version, _time.GetUtcNow(), new TrainingRange(null, null, 10), [], new Dictionary<string, double>()));
        }

        registry.Activate(ModelKinds.Rankers, "v1");
        var store = new ModelRegistryVersionStore(registry, retainVersions: 3);
        using var engine = new RolloutEngine(Options(), store, _time);

        engine.Start("v2");
        engine.Rollback("canary looked wrong");
        Assert.Equal(ModelState.Failed, registry.Get(ModelKinds.Rankers, "v2")!.State);
        Assert.Equal("canary looked wrong", registry.Get(ModelKinds.Rankers, "v2")!.Reason);
        Assert.Equal("v1", registry.GetActive(ModelKinds.Rankers)!.Version);
        Assert.Contains("failed before", store.CandidateProblem(ModelKinds.Rankers, "v2"), StringComparison.Ordinal);

        File.WriteAllText(Path.Combine(registry.FolderFor(ModelKinds.Rankers, "v3"), "model.onnx"), "tampered");
        Assert.Contains("does not match", store.CandidateProblem(ModelKinds.Rankers, "v3"), StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(registry.FolderFor(ModelKinds.Rankers, "v3"), "model.onnx"), "weights of v3");

        engine.Start("v3");
        for (var stage = RolloutStage.Shadow; stage < RolloutStage.Production; stage++)
        {
            engine.Promote("test");
        }

        Assert.Equal("v3", registry.GetActive(ModelKinds.Rankers)!.Version);
        Assert.Equal(ModelState.Previous, registry.Get(ModelKinds.Rankers, "v1")!.State);
    }

    private sealed class ListLogger : ILogger<RolloutEngine>
    {
        public List<(LogLevel Level, string Message)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add((logLevel, formatter(state, exception)));
    }
}
