using System.Net;
using RecSys.Learning.Ranking;
using RecSys.Learning.Registry;
using RecSys.Trainer.Commands;

namespace RecSys.Trainer.Tests;

public sealed class PublishCommandTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "recsys-publish-tests", Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public async Task Publish_registers_the_release_and_activates_it()
    {
        var release = WriteRelease("r1");
        var cli = new CliHarness();

        var exit = await cli.RunAsync("publish", "--release", release, "--registry", Path.Combine(_root, "models"));

        Assert.Equal(ExitCodes.Ok, exit);
        var entry = new ModelRegistry(Path.Combine(_root, "models")).Get(ModelKinds.Rankers, "r1")!;
        Assert.Equal(ModelState.Active, entry.State);
        Assert.Equal(0.42, entry.OfflineMetrics["ndcg@10"]);
    }

    [Fact]
    public async Task Publish_with_rollout_registers_without_activating_and_asks_ranking_to_start_it_with_the_key()
    {
        var release = WriteRelease("r2");
        var handler = new FakeHandler((request, body, _) => FakeHandler.Json(HttpStatusCode.OK,
            """{"kind":"rankers","state":"running","productionVersion":"r1","candidatePercent":0,"gates":[],"waiting":[]}"""));
        var cli = new CliHarness(handler, new Dictionary<string, string> { [TrainerEnvironment.ApiKeyVariable] = "admin-key" });

        var exit = await cli.RunAsync("publish", "--release", release, "--registry", Path.Combine(_root, "models"), "--rollout", "--ranking", "http://ranking.test");

        Assert.Equal(ExitCodes.Ok, exit);
        Assert.Equal(ModelState.Available, new ModelRegistry(Path.Combine(_root, "models")).Get(ModelKinds.Rankers, "r2")!.State);
        var (method, path, sent) = Assert.Single(handler.Requests);
        Assert.Equal((HttpMethod.Post, "/v1/rollout"), (method, path));
        Assert.Contains("\"version\":\"r2\"", sent, StringComparison.Ordinal);
        Assert.Contains("rollout of r2: running", cli.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refused_rollout_or_a_missing_ranking_url_is_a_message_and_a_non_zero_exit()
    {
        var release = WriteRelease("r3");
        var refusing = new FakeHandler((_, _, _) => FakeHandler.Json(HttpStatusCode.Conflict, """{"title":"The rollout cannot do that now.","status":409}""", "application/problem+json"));
        var cli = new CliHarness(refusing);

        Assert.Equal(ExitCodes.InputError, await new CliHarness().RunAsync("publish", "--release", release, "--registry", Path.Combine(_root, "models"), "--rollout"));
        Assert.Equal(ExitCodes.Rejected, await cli.RunAsync("publish", "--release", release, "--registry", Path.Combine(_root, "models"), "--rollout", "--ranking", "http://ranking.test"));
        Assert.Contains("409", cli.Output, StringComparison.Ordinal);
    }

    private string WriteRelease(string name)
    {
        var folder = Path.Combine(_root, "out", name);
        var model = new MlpModel(["ctr", "pop"], [2, 1], [[0.5f, -0.25f]], [[0.1f]]);
        ModelPackage.WriteMlp(Path.Combine(folder, "main-ranker"), model, "main-ranker", $"{name}-main", DateTimeOffset.UnixEpoch, [0.6, 0.4],
            new Dictionary<string, double>(StringComparer.Ordinal) { ["ndcg@10"] = 0.42 });
        return folder;
    }
}
