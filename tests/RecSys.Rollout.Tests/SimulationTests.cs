using RecSys.Rollout.Tests.Simulation;
using Xunit.Abstractions;

namespace RecSys.Rollout.Tests;

/// <summary>
/// End-to-end rollouts through the real engine on a fake clock (see <see cref="RolloutSimulation"/>). The 100-rollout
/// false-alarm run takes about a minute of CPU, so it is the bench command bench/RecSys.Rollout.Sim (figures in docs/rollout.md).
/// </summary>
public sealed class SimulationTests(ITestOutputHelper output) : IDisposable
{
    private const int RequestsPerMinute = 1_000;
    private static readonly SimulatedWorld World = new(users: 5_000, items: 2_000, dimensions: 8, seed: 7);
    private static readonly SimulatedModel Production = new("v1", Noise: 1.0, NoiseSeed: 11);

    private readonly string _root = Directory.CreateTempSubdirectory("rollout-sim-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void A_better_model_ramps_to_production()
    {
        var result = Run(new SimulatedModel("v2-better", Noise: 0.3, NoiseSeed: 12), seed: 1);

        Assert.Equal(RolloutState.Completed, result.Final.State);
        Assert.Equal(RolloutStage.Production, result.Final.Rollout!.Stage);
        Assert.Equal("v2-better", result.Final.ProductionVersion);
        Assert.True(result.CandidateCtr > result.ProductionCtr * 1.05, $"candidate CTR {result.CandidateCtr:F4} vs production {result.ProductionCtr:F4}");
        Assert.Equal([RolloutStage.Canary, RolloutStage.Ramp10, RolloutStage.Ramp25, RolloutStage.Ramp50, RolloutStage.Ramp100, RolloutStage.Production],
            result.Final.Rollout.Transitions.Select(t => t.To));
    }

    [Fact]
    public void A_worse_model_is_rolled_back_in_canary()
    {
        var result = Run(new SimulatedModel("v2-worse", Noise: 4.0, NoiseSeed: 13), seed: 2);

        Assert.Equal(RolloutState.RolledBack, result.Final.State);
        Assert.Equal(RolloutStage.Canary, result.Final.Rollout!.Stage);
        Assert.Equal(RolloutGates.Ctr, result.Final.Alert!.Gate);
        Assert.Equal("v1", result.Final.ProductionVersion);
        Assert.True(result.CandidateCtr < result.ProductionCtr * 0.9, $"candidate CTR {result.CandidateCtr:F4} vs production {result.ProductionCtr:F4}");
    }

    [Fact]
    public void An_identical_model_passes()
    {
        var result = Run(Production with { Version = "v2-same" }, seed: 3);

        Assert.Equal(RolloutState.Completed, result.Final.State);
        Assert.Equal("v2-same", result.Final.ProductionVersion);
    }

    [Theory]
    [InlineData(SimulatedFault.Throws, RolloutStage.Shadow, RolloutGates.ErrorRate)]
    [InlineData(SimulatedFault.Slow, RolloutStage.Shadow, RolloutGates.Latency)]
    [InlineData(SimulatedFault.NaNScores, RolloutStage.Shadow, RolloutGates.ScoreValidity)]
    [InlineData(SimulatedFault.ShiftedScores, RolloutStage.Shadow, RolloutGates.ScoreDistribution)]
    [InlineData(SimulatedFault.Throws, RolloutStage.Canary, RolloutGates.ErrorRate)]
    [InlineData(SimulatedFault.NaNScores, RolloutStage.Canary, RolloutGates.ScoreValidity)]
    [InlineData(SimulatedFault.Slow, RolloutStage.Ramp10, RolloutGates.Latency)]
    internal void A_bad_candidate_is_rolled_back_within_one_gate_interval(SimulatedFault fault, RolloutStage from, string gate)
    {
        var options = RolloutSimulation.Options(_root);
        var result = Run(Production with { Version = $"v2-{fault}", Fault = fault, FaultFrom = from }, seed: 4, options);

        Assert.Equal(RolloutState.RolledBack, result.Final.State);
        Assert.Equal(from, result.Final.Rollout!.Stage);
        Assert.Equal(gate, result.Final.Alert!.Gate);
        Assert.NotNull(result.FaultToRollback);
        Assert.True(result.FaultToRollback <= options.GateInterval, $"rolled back {result.FaultToRollback} after the fault showed");
        output.WriteLine($"{fault} from {from}: rolled back after {result.FaultToRollback}: {result.Final.Alert.Reason}");
    }

    private SimulationResult Run(SimulatedModel candidate, int seed, RolloutOptions? options = null)
    {
        var cpu = Environment.CpuUsage.TotalTime;
        var result = new RolloutSimulation(World, RequestsPerMinute).Run(Production, candidate, options ?? RolloutSimulation.Options(_root), seed);
        cpu = Environment.CpuUsage.TotalTime - cpu;
        output.WriteLine($"{candidate.Version}: {result.Final.State} at {result.Final.Rollout?.Stage} after {result.Elapsed} ({result.Requests} requests, {cpu.TotalMilliseconds:F0} ms CPU); CTR production {result.ProductionCtr:F4}, candidate {result.CandidateCtr:F4}");
        foreach (var transition in result.Final.Rollout?.Transitions ?? [])
        {
            output.WriteLine($"  {transition.At:HH:mm} {transition.From} -> {transition.To}: {transition.Cause}");
        }

        if (result.Final.Alert is { } alert)
        {
            output.WriteLine($"  rolled back: {alert.Reason}");
        }

        return result;
    }
}
