using System.Net;
using RecSys.Trainer.Commands;
using RecSys.Trainer.Retraining;
using RecSys.Trainer.Training;

namespace RecSys.Trainer.Tests.Schedule;

/// <summary>A retraining run is the <c>train --publish</c> command line itself, on a small planted world read from files.</summary>
public sealed class TrainCommandRunnerTests
{
    private static readonly string[] Fast = ["--dim", "8", "--epochs", "2", "--lambda", "5", "--no-metrics", "--threads", "1"];

    // Retrieval's publish flow: stage items and users, activate, then the version's status says it was activated.
    private static FakeHandler Retrieval(HttpStatusCode status) => new((request, _, _) =>
        request.RequestUri!.Host != "retrieval.test" ? FakeHandler.Json(HttpStatusCode.NotFound, "{}")
        : status == HttpStatusCode.OK && request.Method == HttpMethod.Get && request.RequestUri.AbsolutePath.StartsWith("/v1/embeddings/", StringComparison.Ordinal)
            ? FakeHandler.Json(HttpStatusCode.OK, """{"activation":{"state":"activated","recall":1.0,"minRecall":0.95,"items":60}}""")
            : FakeHandler.Json(status, "{}"));

    [Fact]
    public async Task A_run_trains_publishes_writes_a_stamped_model_folder_and_keeps_only_the_newest()
    {
        using var temp = new TempDir();
        Directory.CreateDirectory(temp.File("world"));
        _ = new PlantedWorldFiles(temp.File("world"), users: 40, items: 60, coldItems: 0, eventsPerUser: 10);
        var models = temp.File("models");
        Directory.CreateDirectory(Path.Combine(models, "20200101T000000Z"));
        Directory.CreateDirectory(Path.Combine(models, "20200102T000000Z"));
        Directory.CreateDirectory(Path.Combine(models, "notes"));
        var handler = Retrieval(HttpStatusCode.OK);
        var cli = new CliHarness(handler);
        using var output = new StringWriter();
        var runner = new TrainCommandRunner(cli.Environment, models, ["--events", temp.File("world"), "--retrieval", "http://retrieval.test", .. Fast], keep: 2, output);

        var result = await runner.RunAsync(CancellationToken.None);

        Assert.True(result.Succeeded, output.ToString());
        Assert.Matches(@"\d{8}T\d{6}Z$", result.ModelDirectory);
        Assert.Equal(8, ModelManifest.Read(result.ModelDirectory!).Dimension);
        Assert.Contains(handler.Requests, r => r.Path.StartsWith("/v1/embeddings/", StringComparison.Ordinal) && r.Path.EndsWith("/items", StringComparison.Ordinal));
        Assert.Contains("published", output.ToString(), StringComparison.Ordinal);
        var left = Directory.GetDirectories(models).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(new[] { "20200102T000000Z", Path.GetFileName(result.ModelDirectory), "notes" }.Order(StringComparer.Ordinal), left);
    }

    [Fact]
    public async Task A_run_whose_publish_is_refused_fails_with_the_error_line_of_train()
    {
        using var temp = new TempDir();
        Directory.CreateDirectory(temp.File("world"));
        _ = new PlantedWorldFiles(temp.File("world"), users: 40, items: 60, coldItems: 0, eventsPerUser: 10);
        var cli = new CliHarness(Retrieval(HttpStatusCode.BadRequest));
        using var output = new StringWriter();
        var runner = new TrainCommandRunner(cli.Environment, temp.File("models"), ["--events", temp.File("world"), "--retrieval", "http://retrieval.test", .. Fast], keep: 2, output);

        var result = await runner.RunAsync(CancellationToken.None);

        Assert.False(result.Succeeded);
        Assert.StartsWith("train exited with code ", result.Failure, StringComparison.Ordinal);
        Assert.DoesNotContain("no error line", result.Failure, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--out", "/tmp/x", "--out is set by retrain itself")]
    [InlineData("--publish", null, "--publish is set by retrain itself")]
    [InlineData("--bogus", "1", "--bogus")]
    public void Pass_through_options_are_checked_at_start(string option, string? value, string expected)
    {
        var cli = new CliHarness();
        string[] options = value is null ? [option] : [option, value];
        var runner = new TrainCommandRunner(cli.Environment, "/tmp/models", options, keep: 1, TextWriter.Null);

        Assert.Contains(runner.Validate(), e => e.Contains(expected, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(true)]
    // Under the AppHost `dotnet run` takes the "--" for itself; options retrain does not know still go to train.
    [InlineData(false)]
    public void Train_options_reach_train_with_or_without_the_separator(bool separator)
    {
        string[] passThrough = separator ? ["--", "--dim", "16", "--content"] : ["--dim", "16", "--content"];
        var result = TrainerCli.Build(new CliHarness().Environment).Parse(["retrain", "--model-dir", "/tmp/models", "--every", "06:00:00", .. passThrough]);

        Assert.Empty(result.Errors);
        Assert.Equal(["--dim", "16", "--content"], result.GetValue<string[]>("train-options")!);
        Assert.Equal("06:00:00", result.GetValue<string>("--every"));
    }

    [Fact]
    public async Task The_retrain_command_refuses_to_start_without_a_Retrieval_service_or_with_a_bad_schedule()
    {
        var noRetrieval = new CliHarness();
        Assert.Equal(1, await noRetrieval.RunAsync("retrain", "--model-dir", "/tmp/models"));
        Assert.Contains("retrain publishes every model", noRetrieval.Output, StringComparison.Ordinal);

        var badEvery = new CliHarness(environment: new() { ["services__retrieval__http__0"] = "http://retrieval.test" });
        Assert.Equal(1, await badEvery.RunAsync("retrain", "--model-dir", "/tmp/models", "--every", "daily"));
        Assert.Contains("--every: 'daily' is not a TimeSpan", badEvery.Output, StringComparison.Ordinal);

        var badOption = new CliHarness(environment: new() { ["services__retrieval__http__0"] = "http://retrieval.test" });
        Assert.Equal(1, await badOption.RunAsync("retrain", "--model-dir", "/tmp/models", "--", "--epochs", "many"));
        Assert.Contains("train options after --", badOption.Output, StringComparison.Ordinal);
    }
}
