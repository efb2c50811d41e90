using System.Net;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RecSys.AppHost;
using RecSys.Core.Domain;

namespace RecSys.IntegrationTests;

/// <summary>The retraining resource in the app model, built without starting anything, and how its answers are shown.</summary>
public sealed class RetrainingAppModelTests
{
    private static readonly string DataRoot = Path.Combine(Path.GetTempPath(), "recsys-apphost-model");

    [Fact]
    public async Task The_retrain_resource_runs_the_trainer_daily_after_the_seed_with_its_health_checks_and_commands()
    {
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.RecSys_AppHost>(
            ["RecSys:Infrastructure=embedded", $"RecSys:DataRoot={DataRoot}"]);

        var retrain = Assert.IsType<ProjectResource>(Resource(builder, RetrainingResource.Name));
        var args = await ArgumentsOf(retrain);
        Assert.Equal(
            ["retrain", "--every", "1.00:00:00", "--model-dir", Path.Combine(DataRoot, "models", "retrain"), "--keep", "7",
                "--rankers-registry", Path.Combine(DataRoot, "models"), "--", "--dim", "16", "--content"],
            args);

        // After the seed (which has just trained), with both services it reads from and publishes to.
        var waits = retrain.Annotations.OfType<WaitAnnotation>().ToList();
        Assert.Contains(waits, w => w.Resource.Name == ServiceNames.Seed && w.WaitType == WaitType.WaitForCompletion);
        Assert.Contains(waits, w => w.Resource.Name == ServiceNames.FeatureServer && w.WaitType == WaitType.WaitUntilHealthy);
        Assert.Contains(waits, w => w.Resource.Name == ServiceNames.Retrieval && w.WaitType == WaitType.WaitUntilHealthy);
        var environment = await EnvironmentOf(retrain);
        Assert.Contains(environment.Keys, k => k.StartsWith("services__featureserver__http", StringComparison.Ordinal));
        Assert.Contains(environment.Keys, k => k.StartsWith("services__retrieval__http", StringComparison.Ordinal));

        Assert.Contains(retrain.Annotations.OfType<EndpointAnnotation>(), e => e.Name == RetrainingResource.EndpointName && e.UriScheme == "http");
        var healthChecks = retrain.Annotations.OfType<HealthCheckAnnotation>().Select(h => h.Key).ToList();
        Assert.Equal(2, healthChecks.Count);
        Assert.Contains($"{RetrainingResource.Name}_last_run", healthChecks);
        var commands = retrain.Annotations.OfType<ResourceCommandAnnotation>().ToDictionary(c => c.Name);
        Assert.Equal("Train now", commands[RetrainingResource.TrainNowCommand].DisplayName);
        Assert.Equal("Retraining status", commands[RetrainingResource.StatusCommand].DisplayName);
    }

    [Fact]
    public async Task The_schedule_comes_from_configuration()
    {
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.RecSys_AppHost>(
            ["RecSys:Infrastructure=embedded", $"RecSys:DataRoot={DataRoot}", "RecSys:Retraining:Interval=06:00:00", "RecSys:Retraining:At=03:30", "RecSys:Retraining:Keep=3", "RecSys:Seed:Enabled=false"]);

        var retrain = (ProjectResource)Resource(builder, RetrainingResource.Name);
        var args = await ArgumentsOf(retrain);

        Assert.Equal(["--every", "06:00:00"], args[1..3]);
        Assert.Equal(["--keep", "3", "--rankers-registry", Path.Combine(DataRoot, "models"), "--at", "03:30:00"], args[5..11]);
        // Without a seed it starts with the services.
        Assert.DoesNotContain(retrain.Annotations.OfType<WaitAnnotation>(), w => w.WaitType == WaitType.WaitForCompletion);
    }

    [Fact]
    public async Task Retraining_can_be_switched_off()
    {
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.RecSys_AppHost>(
            ["RecSys:Infrastructure=embedded", "RecSys:Retraining:Enabled=false"]);

        Assert.DoesNotContain(builder.Resources, r => r.Name == RetrainingResource.Name);
    }

    [Theory]
    [InlineData("RecSys:Retraining:Interval=daily", "RecSys:Retraining:Interval")]
    [InlineData("RecSys:Retraining:Interval=00:00:30", "RecSys:Retraining:Interval")]
    [InlineData("RecSys:Retraining:At=3am", "RecSys:Retraining:At")]
    [InlineData("RecSys:Retraining:Keep=0", "RecSys:Retraining:Keep")]
    public async Task Bad_retraining_settings_are_a_clear_error(string setting, string named)
    {
        var error = await Record.ExceptionAsync(() => DistributedApplicationTestingBuilder.CreateAsync<Projects.RecSys_AppHost>(
            ["RecSys:Infrastructure=embedded", setting]));

        Assert.Contains(named, Flatten(error), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_time_of_day_with_an_interval_that_does_not_divide_a_day_is_a_clear_error()
    {
        var error = await Record.ExceptionAsync(() => DistributedApplicationTestingBuilder.CreateAsync<Projects.RecSys_AppHost>(
            ["RecSys:Infrastructure=embedded", "RecSys:Retraining:Interval=07:00:00", "RecSys:Retraining:At=03:00"]));

        Assert.Contains("must divide a day", Flatten(error), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Healthy", HealthStatus.Healthy)]
    [InlineData("Degraded", HealthStatus.Degraded)]
    [InlineData("Unhealthy", HealthStatus.Unhealthy)]
    public void The_last_run_check_shows_the_trainers_own_status_and_reason(string reported, HealthStatus expected)
    {
        var result = RetrainingResource.LastRunHealth(HttpStatusCode.OK, $$"""{"status":"{{reported}}","description":"run 2 (scheduled) failed: export refused"}""");

        Assert.Equal(expected, result.Status);
        Assert.Equal("run 2 (scheduled) failed: export refused", result.Description);
    }

    [Theory]
    [InlineData(HttpStatusCode.ServiceUnavailable, """{"status":"Healthy","description":"idle"}""")]
    [InlineData(HttpStatusCode.OK, "not json")]
    public void An_unexpected_health_answer_is_unhealthy(HttpStatusCode status, string body)
    {
        Assert.Equal(HealthStatus.Unhealthy, RetrainingResource.LastRunHealth(status, body).Status);
    }

    [Fact]
    public void Train_now_reports_the_run_it_started_or_the_one_in_the_way()
    {
        var started = RetrainingResource.TrainNowResult(HttpStatusCode.Accepted, """{"number":4,"trigger":"manual","startedAt":"2026-12-02T10:00:00+00:00"}""");
        var busy = RetrainingResource.TrainNowResult(HttpStatusCode.Conflict, """{"number":3,"trigger":"schedule","startedAt":"2026-12-02T03:00:00+00:00"}""");
        var broken = RetrainingResource.TrainNowResult(HttpStatusCode.InternalServerError, "");

        Assert.True(started.Success);
        Assert.Equal("Run 4 started at 2026-12-02T10:00:00+00:00: it shows in the health checks when it ends.", started.Message);
        Assert.False(busy.Success);
        Assert.Equal("Run 3 has been in progress since 2026-12-02T03:00:00+00:00: runs never overlap.", busy.Message);
        Assert.False(broken.Success);
        Assert.Contains("500", broken.Message, StringComparison.Ordinal);
    }

    private static IResource Resource(IDistributedApplicationTestingBuilder builder, string name) =>
        builder.Resources.Single(r => r.Name == name);

    private static string Flatten(Exception? error)
    {
        var messages = new List<string>();
        for (var e = error; e is not null; e = e.InnerException)
        {
            messages.Add(e.Message);
        }

        return string.Join(" | ", messages);
    }

    // Obsolete in favour of ExecutionConfigurationBuilder, but still the calls that evaluate a resource's arguments and
    // environment in publish mode, where references stay symbolic.
#pragma warning disable CS0618
    private static async Task<string[]> ArgumentsOf(IResourceWithArgs resource) =>
        await resource.GetArgumentValuesAsync(DistributedApplicationOperation.Publish);

    private static async Task<Dictionary<string, string>> EnvironmentOf(IResourceWithEnvironment resource) =>
        (await resource.GetEnvironmentVariableValuesAsync(DistributedApplicationOperation.Publish)).ToDictionary(kv => kv.Key, kv => kv.Value);
#pragma warning restore CS0618
}
