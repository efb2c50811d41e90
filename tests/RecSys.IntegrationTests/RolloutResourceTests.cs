namespace RecSys.IntegrationTests;

/// <summary>
/// The <c>rollout</c> dashboard resource of the running AppHost: its state comes from Ranking's <c>GET /v1/rollout</c>, and its
/// commands reach Ranking's admin API with the admin key and report Ranking's answer. The shared AppHost has no ranker
/// release registered (the other tests rely on the fused score), so the commands are refused by Ranking, which is what this
/// test checks: nothing is activated or rolled out here.
/// </summary>
[Collection(AppHostCollection.Name)]
public sealed class RolloutResourceTests(AppHostFixture fixture)
{
    [Fact]
    public async Task The_rollout_resource_shows_Rankings_rollout_state_and_its_commands_answer_with_Rankings_reasons()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        // The monitor polls every few seconds; until Ranking answers, the state reads "Waiting for ranking".
        var shown = await fixture.App.ResourceNotifications.WaitForResourceAsync("rollout", e => e.Snapshot.State?.Text == "Idle", cts.Token);
        Assert.Equal("Rollout", shown.Snapshot.ResourceType);
        Assert.Contains(shown.Snapshot.Properties, p => p.Name == "rollout.stage");
        Assert.Contains(shown.Snapshot.Properties, p => p.Name == "rollout.candidatePercent" && Equals(p.Value, "0"));

        // Start lists the registered releases through GET /v1/models (admin key): there are none to roll out.
        var start = await fixture.App.ResourceCommands.ExecuteCommandAsync("rollout", "rollout-start", cts.Token);
        Assert.False(start.Success);
        Assert.Contains("No registered ranker release to roll out", start.Message, StringComparison.Ordinal);

        // Roll back posts to Ranking, which refuses with 409 and its reason: no rollout runs.
        var rollback = await fixture.App.ResourceCommands.ExecuteCommandAsync("rollout", "rollout-rollback", cts.Token);
        Assert.False(rollback.Success);
        Assert.Contains("/v1/rollout/rollback answered 409", rollback.Message, StringComparison.Ordinal);

        Assert.True(fixture.App.ResourceNotifications.TryGetCurrentState("rollout", out var after));
        Assert.Equal("Idle", after.Snapshot.State?.Text);
    }
}
