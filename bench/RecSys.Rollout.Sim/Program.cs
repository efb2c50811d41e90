using System.Diagnostics;
using System.Globalization;
using RecSys.Rollout;
using RecSys.Rollout.Tests.Simulation;

// Runs many simulated rollouts of one kind of candidate through the real engine and counts how they ended.
// Usage: dotnet run -c Release --project bench/RecSys.Rollout.Sim -- [--candidate equivalent|identical|better|worse] [--rollouts 100] [--threads 2]
var candidateKind = "equivalent";
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
            case "--threads":
                threads = int.Parse(Value(), CultureInfo.InvariantCulture);
                break;
            default:
                throw new ArgumentException($"Unknown option {args[i]}.");
        }
    }
    catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
    {
        Console.Error.WriteLine($"{e.Message} Usage: [--candidate equivalent|identical|better|worse] [--rollouts N (1..10000)] [--threads N (1..64)]");
        return 2;
    }
}

if (rollouts is < 1 or > 10_000 || threads is < 1 or > 64 || candidateKind is not ("equivalent" or "identical" or "better" or "worse"))
{
    Console.Error.WriteLine("--candidate must be equivalent, identical, better or worse; --rollouts 1..10000; --threads 1..64.");
    return 2;
}

var world = new SimulatedWorld(users: 5_000, items: 2_000, dimensions: 8, seed: 7);
var production = new SimulatedModel("v1", Noise: 1.0, NoiseSeed: 11);
SimulatedModel CandidateFor(int run) => candidateKind switch
{
    "identical" => production with { Version = $"v2-{run}" },
    "better" => new SimulatedModel($"v2-{run}", Noise: 0.3, NoiseSeed: 1_000 + (ulong)run),
    "worse" => new SimulatedModel($"v2-{run}", Noise: 4.0, NoiseSeed: 1_000 + (ulong)run),
    _ => new SimulatedModel($"v2-{run}", Noise: 1.0, NoiseSeed: 1_000 + (ulong)run),
};

var root = Directory.CreateTempSubdirectory("rollout-sim-");
var outcomes = new List<(int Run, RolloutStatus Final)>();
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
            outcomes.Add((run, result.Final));
        }
    });
}
finally
{
    root.Delete(recursive: true);
}

cpu = Environment.CpuUsage.TotalTime - cpu;
Console.WriteLine($"candidate {candidateKind}: {rollouts} rollouts, {clock.Elapsed.TotalSeconds:F1} s wall, {cpu.TotalSeconds:F1} s CPU, {threads} threads");
foreach (var group in outcomes.GroupBy(o => (o.Final.State, o.Final.Rollout?.Stage, o.Final.Alert?.Gate)).OrderByDescending(g => g.Count()))
{
    Console.WriteLine($"  {group.Count(),4} {group.Key.State} at {group.Key.Stage}{(group.Key.Gate is null ? "" : $" by gate {group.Key.Gate}")}");
}

foreach (var (run, final) in outcomes.Where(o => o.Final.State == RolloutState.RolledBack).OrderBy(o => o.Run).Take(10))
{
    Console.WriteLine($"  run {run}: {final.Alert?.Reason}");
}

return 0;
