using System.Diagnostics;
using System.Globalization;
using RecSys.Ranking.Tests.Rollout.Simulation;
using RecSys.TestSupport;

namespace RecSys.Rollout.Sim;

/// <summary>
/// Many rollouts through the Ranking service (<see cref="PipelineSimulation"/>), one after another on one host and one
/// embedded Garnet: production ranks at θ = 45° from the planted tastes; the candidate is the same weights under another
/// version (identical), θ = 15° (better), θ = 90° (worse) or <c>--angle θ</c>.
/// </summary>
internal static class PipelineMode
{
    private const double ProductionAngle = 45;

    public static async Task<int> RunAsync(string[] args)
    {
        var kind = "identical";
        double? angle = null;
        var rollouts = 100;
        var requestsPerMinute = new PipelineSimulationSettings().RequestsPerMinute;
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            try
            {
                switch (args[i])
                {
                    case "--candidate":
                        kind = Value();
                        break;
                    case "--angle":
                        angle = double.Parse(Value(), CultureInfo.InvariantCulture);
                        break;
                    case "--rollouts":
                        rollouts = int.Parse(Value(), CultureInfo.InvariantCulture);
                        break;
                    case "--requests-per-minute":
                        requestsPerMinute = int.Parse(Value(), CultureInfo.InvariantCulture);
                        break;
                    default:
                        throw new ArgumentException($"Unknown option {args[i]}.");
                }
            }
            catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
            {
                Console.Error.WriteLine($"{e.Message} Usage: --pipeline [--candidate identical|better|worse] [--angle θ (-180..180)] [--rollouts N (1..10000)] [--requests-per-minute N (20..10000)]");
                return 2;
            }
        }

        if (rollouts is < 1 or > 10_000 || angle is < -180 or > 180 || requestsPerMinute is < 20 or > 10_000 || kind is not ("identical" or "better" or "worse"))
        {
            Console.Error.WriteLine("--candidate must be identical, better or worse; --angle -180..180; --rollouts 1..10000; --requests-per-minute 20..10000.");
            return 2;
        }

        WorldModel? candidate = angle is { } a ? new WorldModel(a) : kind switch
        {
            "better" => new WorldModel(15),
            "worse" => new WorldModel(90),
            _ => null,
        };
        // WebApplicationFactory finds the Ranking service's content root through MvcTestingAppManifest.json in the current folder.
        Directory.SetCurrentDirectory(AppContext.BaseDirectory);
        var settings = new PipelineSimulationSettings { RequestsPerMinute = requestsPerMinute };
        var world = new PipelineWorld(users: 2_000, items: 1_000, seed: 7);
        var root = Directory.CreateTempSubdirectory("rollout-pipeline-sim-");
        var outcomes = new List<PipelineRolloutResult>();
        var wall = Stopwatch.StartNew();
        var cpu = Environment.CpuUsage.TotalTime;
        try
        {
            using var garnet = EmbeddedGarnet.WithMemory("512m");
            await world.PublishAsync(garnet.Connection, CancellationToken.None);
            await using var simulation = new PipelineSimulation(world, garnet.ConnectionString, root.FullName, settings, seed: 3);
            for (var run = 0; run < rollouts; run++)
            {
                var result = await simulation.RunAsync(new WorldModel(ProductionAngle), candidate, seed: 10_000 + run);
                outcomes.Add(result);
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"run {run}: {result.Final.State} at {result.Final.Rollout?.Stage} after {result.Elapsed.TotalMinutes:F0} min, {result.Requests} requests{(result.Final.Alert is { } alert ? $", {alert.Gate}: {alert.Reason}" : "")}"));
            }
        }
        finally
        {
            try
            {
                root.Delete(recursive: true);
            }
            catch (IOException)
            {
                // A model file may still be mapped; the temp folder is cleaned by the OS.
            }
        }

        cpu = Environment.CpuUsage.TotalTime - cpu;
        var served = outcomes.Where(o => o.Candidate.Impressions > 0 && o.Production.Impressions > 0).ToList();
        var pooledProduction = served.Sum(o => (double)o.Production.Clicks) / served.Sum(o => (double)o.Production.Impressions);
        var pooledCandidate = served.Sum(o => (double)o.Candidate.Clicks) / served.Sum(o => (double)o.Candidate.Impressions);
        var requests = outcomes.Sum(o => o.Requests);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"pipeline, candidate {(angle is null ? kind : $"θ {angle}")} (production θ {ProductionAngle}): {rollouts} rollouts, {requests} requests, " +
            $"CTR where both served: production {pooledProduction:F4}, candidate {pooledCandidate:F4} ({(pooledCandidate / pooledProduction) - 1:+0.0%;-0.0%}); " +
            $"{wall.Elapsed.TotalSeconds:F0} s wall, {cpu.TotalSeconds:F0} s CPU ({cpu.TotalMilliseconds / Math.Max(1, requests):F2} CPU-ms per request)"));
        foreach (var group in outcomes.GroupBy(o => (o.Final.State, o.Final.Rollout?.Stage, o.Final.Alert?.Gate, AlertStage: o.Final.Alert?.Stage)).OrderByDescending(g => g.Count()))
        {
            Console.WriteLine($"  {group.Count(),4} {group.Key.State} at {group.Key.Stage}{(group.Key.Gate is null ? "" : $" by gate {group.Key.Gate} in {group.Key.AlertStage}")}");
        }

        var rolledBack = outcomes.Where(o => o.Final.State == RolloutState.RolledBack).ToList();
        if (rolledBack.Count > 0)
        {
            var intoStage = rolledBack.Select(o => (o.Final.Rollout!.EndedAt!.Value - o.Final.Rollout.StageStartedAt).TotalMinutes).Order().ToList();
            var sinceStart = rolledBack.Select(o => o.Elapsed.TotalMinutes).Order().ToList();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  rollback, minutes into its stage: median {intoStage[intoStage.Count / 2]:F0}, max {intoStage[^1]:F0}; minutes since the rollout started: median {sinceStart[sinceStart.Count / 2]:F0}, max {sinceStart[^1]:F0}"));
        }

        var completed = outcomes.Where(o => o.Final.State == RolloutState.Completed).Select(o => o.Elapsed.TotalMinutes).Order().ToList();
        if (completed.Count > 0)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  completed, simulated minutes to production: median {completed[completed.Count / 2]:F0}, max {completed[^1]:F0}"));
        }

        return 0;
    }
}
