using Microsoft.Extensions.Time.Testing;

namespace RecSys.Rollout.Tests.Simulation;

/// <summary>What a simulated rollout came to.</summary>
internal sealed record SimulationResult(
    RolloutStatus Final,
    TimeSpan Elapsed,
    TimeSpan? FaultToRollback,
    long Requests,
    double ProductionCtr,
    double CandidateCtr);

/// <summary>
/// Drives the real engine (routing, recorder, gates, stage advance, rollback) with simulated traffic on a fake clock:
/// every simulated minute, <c>requestsPerMinute</c> requests from random users are routed, scored by the version routed
/// to (and by the shadow in the background), their top items shown, and clicks drawn from the world's click model.
/// The gate timer fires as the clock advances.
/// </summary>
internal sealed class RolloutSimulation(SimulatedWorld world, int requestsPerMinute, int candidatesPerRequest = 10, int shown = 3)
{
    public static RolloutOptions Options(string stateDirectory) => new()
    {
        ModelKind = "rankers",
        StateDirectory = stateDirectory,
        CanaryPercent = 5,
        GateInterval = TimeSpan.FromMinutes(5),
        Shadow = new() { MinDuration = TimeSpan.FromMinutes(10), MinRequests = 2_000 },
        Canary = new() { MinDuration = TimeSpan.FromMinutes(40), MinRequests = 1_500 },
        Ramp10 = new() { MinDuration = TimeSpan.FromMinutes(10), MinRequests = 800 },
        Ramp25 = new() { MinDuration = TimeSpan.FromMinutes(10), MinRequests = 2_000 },
        Ramp50 = new() { MinDuration = TimeSpan.FromMinutes(10), MinRequests = 4_000 },
        Ramp100 = new() { MinDuration = TimeSpan.FromMinutes(10), MinRequests = 8_000 },
        MinImpressions = 1_500,
        MinLatencySamples = 200,
        MinScoreSamples = 1_000,
        ScoreSampleSize = 2_000,
    };

    public SimulationResult Run(SimulatedModel production, SimulatedModel candidate, RolloutOptions options, int seed, TimeSpan? limit = null)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var store = new FakeVersionStore(production.Version, candidate.Version);
        using var engine = new RolloutEngine(options, store, time);
        engine.StartGateTimer();
        engine.Start(candidate.Version);
        var started = time.GetUtcNow();
        var random = new Random(seed);
        var items = new int[candidatesPerRequest];
        var scores = new float[candidatesPerRequest];
        var shadowScores = new float[candidatesPerRequest];
        var order = new int[candidatesPerRequest];
        long requests = 0, productionImpressions = 0, productionClicks = 0, candidateImpressions = 0, candidateClicks = 0;
        DateTimeOffset? faultSeen = null;
        var end = started + (limit ?? TimeSpan.FromHours(6));
        var status = engine.Status();
        while (status.State is RolloutState.Running or RolloutState.ReadyToPromote && time.GetUtcNow() < end)
        {
            for (var r = 0; r < requestsPerMinute; r++)
            {
                var requestId = $"s{seed}-r{requests++}";
                var user = random.Next(world.UserCount);
                var decision = engine.Route(UserId(user));
                var stage = decision.Stage ?? RolloutStage.Production;
                for (var i = 0; i < items.Length; i++)
                {
                    items[i] = random.Next(world.ItemCount);
                }

                var served = decision.ServesCandidate ? candidate : production;
                if (candidate.FaultActive(stage) && (ReferenceEquals(served, candidate) || decision.ShadowVersion is not null))
                {
                    faultSeen ??= time.GetUtcNow();
                }

                if (!TryScore(engine, served, user, items, scores, requestId, stage, random))
                {
                    // The host answers from production when the candidate fails.
                    served = production;
                    TryScore(engine, production, user, items, scores, requestId, stage, random);
                }

                if (decision.ShadowVersion is not null)
                {
                    TryScore(engine, candidate, user, items, shadowScores, requestId, stage, random);
                }

                // Show the top items by the served scores; clicks follow the true affinity.
                for (var i = 0; i < order.Length; i++)
                {
                    order[i] = i;
                }

                var keys = (float[])scores.Clone();
                for (var i = 0; i < keys.Length; i++)
                {
                    keys[i] = float.IsNaN(keys[i]) ? float.NegativeInfinity : -keys[i];
                }

                Array.Sort(keys, order);
                engine.Recorder.RecordImpressions(served.Version, requestId, shown);
                var clicks = 0;
                for (var k = 0; k < shown; k++)
                {
                    if (random.NextDouble() < SimulatedWorld.ClickProbability(world.Affinity(user, items[order[k]])))
                    {
                        clicks++;
                        engine.Recorder.RecordClick(requestId);
                    }
                }

                if (ReferenceEquals(served, candidate))
                {
                    candidateImpressions += shown;
                    candidateClicks += clicks;
                }
                else
                {
                    productionImpressions += shown;
                    productionClicks += clicks;
                }
            }

            time.Advance(TimeSpan.FromMinutes(1));
            status = engine.Status();
        }

        var rolledBackAt = status.Rollout?.EndedAt;
        return new SimulationResult(
            status,
            time.GetUtcNow() - started,
            status.State == RolloutState.RolledBack && faultSeen is { } seen && rolledBackAt is { } at ? at - seen : null,
            requests,
            productionImpressions == 0 ? 0 : (double)productionClicks / productionImpressions,
            candidateImpressions == 0 ? 0 : (double)candidateClicks / candidateImpressions);
    }

    public static string UserId(int user) => $"user-{user}";

    private bool TryScore(RolloutEngine engine, SimulatedModel model, int user, int[] items, float[] scores, string requestId, RolloutStage stage, Random random)
    {
        var latency = model.Latency(random, stage);
        try
        {
            model.Score(world, user, items, scores, stage);
        }
        catch (InvalidOperationException)
        {
            engine.Recorder.RecordRequest(model.Version, latency, failed: true);
            return false;
        }

        engine.Recorder.RecordRequest(model.Version, latency, failed: false);
        engine.Recorder.RecordScores(model.Version, requestId, scores);
        return true;
    }
}
