using RecSys.Ranking.Tests.Rollout.Simulation;
using RecSys.Rollout;
using RecSys.TestSupport;

namespace RecSys.Ranking.Tests.Rollout;

/// <summary>One Ranking host, one embedded Garnet with the world's embeddings, shared by the pipeline simulation's rollouts.</summary>
public sealed class PipelineSimulationFixture : IAsyncLifetime
{
    private readonly EmbeddedGarnet _garnet = new();
    private readonly string _root = Path.Combine(Path.GetTempPath(), "recsys-rollout-sim-tests", Guid.NewGuid().ToString("N"));

    public PipelineWorld World { get; } = new(users: 2_000, items: 1_000, seed: 7);

    public PipelineSimulation Simulation { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await World.PublishAsync(_garnet.Connection, CancellationToken.None);
        Simulation = new PipelineSimulation(World, _garnet.ConnectionString, _root, seed: 3);
    }

    public async Task DisposeAsync()
    {
        await Simulation.DisposeAsync();
        _garnet.Dispose();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // A session may still map a model file; the temp folder is cleaned by the OS.
        }
    }
}

/// <summary>
/// Single rollouts of the pipeline simulation (<see cref="PipelineSimulation"/>): users click by their planted tastes on what
/// <c>/v1/recommendations</c> returned, clicks come back through the event log and Ranking's poller, and the gates decide on a
/// fake rollout clock. Production weighs taste and an unrelated item property equally (θ = 45°).
/// </summary>
public sealed class PipelineSimulationTests(PipelineSimulationFixture fixture) : IClassFixture<PipelineSimulationFixture>
{
    private static readonly WorldModel Production = new(45);

    [Fact]
    public async Task A_better_model_ramps_to_100_percent_and_becomes_production()
    {
        var result = await fixture.Simulation.RunAsync(Production, new WorldModel(15), seed: 101, CancellationToken.None);

        Assert.True(result.Final.State == RolloutState.Completed, Describe(result));
        Assert.Equal(RolloutStage.Production, result.Final.Rollout!.Stage);
        Assert.Contains(result.Final.Rollout.Transitions, t => t.To == RolloutStage.Ramp100);
        Assert.True(result.CandidateCtr > result.ProductionCtr, Describe(result));
        Assert.Equal(result.Final.Rollout.CandidateVersion, fixture.Simulation.Registry.GetActive(RecSys.Learning.Registry.ModelKinds.Rankers)!.Version);
    }

    [Fact]
    public async Task A_worse_model_is_rolled_back_by_the_ctr_gate_during_canary()
    {
        var result = await fixture.Simulation.RunAsync(Production, new WorldModel(90), seed: 202, CancellationToken.None);

        Assert.True(result.Final.State == RolloutState.RolledBack, Describe(result));
        Assert.True(result.Final.Alert!.Gate == RolloutGates.Ctr, Describe(result));
        Assert.Equal(RolloutStage.Canary, result.Final.Alert.Stage);
        Assert.True(result.CandidateCtr < result.ProductionCtr, Describe(result));
        Assert.Equal(RecSys.Learning.Registry.ModelState.Failed,
            fixture.Simulation.Registry.Get(RecSys.Learning.Registry.ModelKinds.Rankers, result.Final.Rollout!.CandidateVersion)!.State);
    }

    [Fact]
    public async Task An_identical_model_passes_every_stage()
    {
        var result = await fixture.Simulation.RunAsync(Production, candidate: null, seed: 303, CancellationToken.None);

        Assert.True(result.Final.State == RolloutState.Completed, Describe(result));
        Assert.Null(result.Final.Alert);
    }

    private static string Describe(PipelineRolloutResult result) =>
        $"{result.Final.State} at {result.Final.Rollout?.Stage} after {result.Elapsed} ({result.Requests} requests); alert: {result.Final.Alert?.Reason}; " +
        $"CTR production {result.ProductionCtr:F4} ({result.Production.Impressions} impressions), candidate {result.CandidateCtr:F4} ({result.Candidate.Impressions})";
}
