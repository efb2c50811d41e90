using System.Diagnostics;
using System.Globalization;
using RecSys.Rollout;
using RecSys.Rollout.Sim;
using RecSys.Rollout.Tests.Simulation;

// Runs many simulated rollouts of one kind of candidate through the real engine and counts how they ended.
// Usage: dotnet run -c Release --project bench/RecSys.Rollout.Sim -- [--candidate equivalent|identical|better|worse] [--noise σ] [--rollouts 100] [--threads 2]
// With --pipeline, through the Ranking service instead (see PipelineSimulation): --candidate identical|better|worse [--angle θ] [--rollouts 100]
if (args.Contains("--pipeline"))
{
    return await PipelineMode.RunAsync([.. args.Where(a => a != "--pipeline")]);
}

var candidateKind = "equivalent";
double? noise = null;
var rollouts = 100;
var threads = 2;
for (var i = 0; i < args.Length; i++)
{
    string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
    try
    {
        switch (args[i])
        {
            case "--candidate":
                candidateKind = Value();
                break;
            case "--rollouts":
                rollouts = int.Parse(Value(), CultureInfo.InvariantCulture);
                break;
            case "--noise":
                noise = double.Parse(Value(), CultureInfo.InvariantCulture);
                break;
            case "--threads":
                threads = int.Parse(Value(), CultureInfo.InvariantCulture);
                break;
            default:
                throw new ArgumentException($"Unknown option {args[i]}.");
        }
    }
    catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
    {
        Console.Error.WriteLine($"{e.Message} Usage: [--candidate equivalent|identical|better|worse] [--noise σ (0..10, overrides the candidate's noise)] [--rollouts N (1..10000)] [--threads N (1..64)]");
        return 2;
    }
}

if (rollouts is < 1 or > 10_000 || threads is < 1 or > 64 || noise is < 0 or > 10 || candidateKind is not ("equivalent" or "identical" or "better" or "worse"))
{
    Console.Error.WriteLine("--candidate must be equivalent, identical, better or worse; --noise 0..10; --rollouts 1..10000; --threads 1..64.");
    return 2;
}

var world = new SimulatedWorld(users: 5_000, items: 2_000, dimensions: 8, seed: 7);
var production = new SimulatedModel("v1", Noise: 1.0, NoiseSeed: 11);
SimulatedModel CandidateFor(int run) => noise is { } sigma ? new SimulatedModel($"v2-{run}", Noise: sigma, NoiseSeed: 1_000 + (ulong)run) : candidateKind switch
{
    "identical" => production with { Version = $"v2-{run}" },
    "better" => new SimulatedModel($"v2-{run}", Noise: 0.3, NoiseSeed: 1_000 + (ulong)run),
    "worse" => new SimulatedModel($"v2-{run}", Noise: 4.0, NoiseSeed: 1_000 + (ulong)run),
    _ => new SimulatedModel($"v2-{run}", Noise: 1.0, NoiseSeed: 1_000 + (ulong)run),
};

var root = Directory.CreateTempSubdirectory("rollout-sim-");
var outcomes = new List<(int Run, RolloutStatus Final, double ProductionCtr, double CandidateCtr)>();
var clock = Stopwatch.StartNew();
var cpu = Environment.CpuUsage.TotalTime;
try
{
    Parallel.For(0, rollouts, new ParallelOptions { MaxDegreeOfParallelism = threads }, run =>
    {
        var options = RolloutSimulation.Options(Path.Combine(root.FullName, $"run-{run}"));
        var result = new RolloutSimulation(world, requestsPerMinute: 1_000).Run(production, CandidateFor(run), options, seed: 10_000 + run);
        lock (outcomes)
        {
            outcomes.Add((run, result.Final, result.ProductionCtr, result.CandidateCtr));
        }
    });
}
finally
{
    root.Delete(recursive: true);
}

cpu = Environment.CpuUsage.TotalTime - cpu;
var served = outcomes.Where(o => o.CandidateCtr > 0).ToList();
var lift = served.Count == 0 ? double.NaN : served.Average(o => (o.CandidateCtr / o.ProductionCtr) - 1);
Console.WriteLine($"candidate {(noise is null ? candidateKind : $"noise {noise}")}: {rollouts} rollouts, mean CTR change where served {lift:+0.0%;-0.0%}, {clock.Elapsed.TotalSeconds:F1} s wall, {cpu.TotalSeconds:F1} s CPU, {threads} threads");
foreach (var group in outcomes.GroupBy(o => (o.Final.State, o.Final.Rollout?.Stage, o.Final.Alert?.Gate)).OrderByDescending(g => g.Count()))
{
    Console.WriteLine($"  {group.Count(),4} {group.Key.State} at {group.Key.Stage}{(group.Key.Gate is null ? "" : $" by gate {group.Key.Gate}")}");
}

var rolledBack = outcomes.Where(o => o.Final.State == RolloutState.RolledBack).ToList();
if (rolledBack.Count > 0)
{
    var minutes = rolledBack.Select(o => (o.Final.Rollout!.EndedAt!.Value - o.Final.Rollout.StageStartedAt).TotalMinutes).Order().ToList();
    Console.WriteLine($"  minutes into the stage at rollback: median {minutes[minutes.Count / 2]:F0}, max {minutes[^1]:F0}");
}

foreach (var (run, final, _, _) in rolledBack.OrderBy(o => o.Run).Take(5))
{
    Console.WriteLine($"  run {run}: {final.Alert?.Reason}");
}

return 0;
