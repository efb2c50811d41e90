using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using RecSys.ServiceDefaults.Security;
using RecSys.Trainer.Retraining;

namespace RecSys.Trainer.Tests.Schedule;

/// <summary>The HTTP face of the retraining job on a test server, with a run delegate the test finishes by hand.</summary>
public sealed class RetrainingEndpointTests : IAsyncLifetime
{
    private const string AdminKey = "test-admin-key-5c2e8a1f9d3b7e4a";
    private const string ReaderKey = "test-reader-key-1e7d3a9c5b2f8e6d";

    private readonly FakeTimeProvider _time = new(SchedulerHarness.Start);
    private readonly List<TaskCompletionSource<RunResult>> _runs = [];
    private WebApplication _app = null!;
    private HttpClient _client = null!;

    private RetrainingScheduler Scheduler => _app.Services.GetRequiredService<RetrainingScheduler>();

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        // The keys as the AppHost passes them: hashes and roles only.
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["RecSys:Security:ApiKeys:admin:Hash"] = ApiKeyHasher.Hash(AdminKey),
            ["RecSys:Security:ApiKeys:admin:Roles:0"] = RecSysRoles.Admin,
            ["RecSys:Security:ApiKeys:reader:Hash"] = ApiKeyHasher.Hash(ReaderKey),
            ["RecSys:Security:ApiKeys:reader:Roles:0"] = RecSysRoles.PublicRead,
        });
        builder.Services.AddSingleton<TimeProvider>(_time);
        builder.Services.AddRetraining(new RetrainSchedule(TimeSpan.FromDays(1), new TimeOnly(3, 0)), RunAsync);
        builder.AddRecSysSecurity();
        builder.Services.AddProblemDetails();
        _app = builder.Build();
        _app.UseRecSysSecurity();
        _app.MapRetrainingEndpoints();
        await _app.StartAsync();
        _client = _app.GetTestClient();
        _client.DefaultRequestHeaders.Add(ApiKeyAuthenticationHandler.HeaderName, AdminKey);
        // The loop armed its first slot: 03:00 UTC tomorrow.
        await SchedulerHarness.WaitForAsync(Scheduler, s => s.NextRun is not null);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _app.DisposeAsync();
    }

    [Fact]
    public async Task Post_run_needs_the_admin_policy_and_health_needs_no_key()
    {
        using var anonymous = _app.GetTestClient();
        using var reader = _app.GetTestClient();
        reader.DefaultRequestHeaders.Add(ApiKeyAuthenticationHandler.HeaderName, ReaderKey);

        using var noKey = await anonymous.PostAsync(RetrainingHost.RunPath, null);
        using var weakKey = await reader.PostAsync(RetrainingHost.RunPath, null);
        using var health = await anonymous.GetAsync(RetrainingHost.HealthPath);
        using var alive = await anonymous.GetAsync(RetrainingHost.AlivePath);

        Assert.Equal(HttpStatusCode.Unauthorized, noKey.StatusCode);
        Assert.Equal("application/problem+json", noKey.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.Forbidden, weakKey.StatusCode);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        Assert.Null(Scheduler.Snapshot.Current);
    }

    [Fact]
    public async Task Health_is_Healthy_when_idle_with_the_next_run_in_its_data()
    {
        var (status, health) = await GetHealthAsync();

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("Healthy", health.GetProperty("status").GetString());
        Assert.Equal("idle; no run yet; next run at 2026-12-03T03:00:00Z", health.GetProperty("description").GetString());
        Assert.Equal("2026-12-03T03:00:00Z", health.GetProperty("data").GetProperty("nextRun").GetString());
        Assert.Equal("idle", health.GetProperty("data").GetProperty("state").GetString());
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync(RetrainingHost.AlivePath)).StatusCode);
    }

    [Fact]
    public async Task Post_run_starts_a_run_and_a_second_one_meanwhile_is_a_conflict_naming_the_run_in_progress()
    {
        using var first = await _client.PostAsync(RetrainingHost.RunPath, null);
        using var second = await _client.PostAsync(RetrainingHost.RunPath, null);

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        var started = await first.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(1, started.GetProperty("number").GetInt32());
        Assert.Equal("manual", started.GetProperty("trigger").GetString());
        Assert.Equal("running", started.GetProperty("outcome").GetString());
        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
        Assert.Equal(1, (await second.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("number").GetInt32());
        var (_, health) = await GetHealthAsync();
        Assert.StartsWith("training: run 1 (manual) since 2026-12-02T10:00:00Z", health.GetProperty("description").GetString(), StringComparison.Ordinal);

        Complete(0, RunResult.Success("/models/20261202T100000Z"));
        await SchedulerHarness.WaitForAsync(Scheduler, s => s.LastRun is not null);
        var (_, after) = await GetHealthAsync();
        Assert.Equal("Healthy", after.GetProperty("status").GetString());
        Assert.Equal("succeeded", after.GetProperty("data").GetProperty("lastRunOutcome").GetString());
        Assert.Equal("/models/20261202T100000Z", after.GetProperty("data").GetProperty("lastRunModel").GetString());
    }

    [Fact]
    public async Task After_a_failed_run_health_is_Degraded_with_the_reason_and_the_next_run()
    {
        using var response = await _client.PostAsync(RetrainingHost.RunPath, null);
        Complete(0, RunResult.Fail("train exited with code 3: the FeatureServer did not answer"));
        await SchedulerHarness.WaitForAsync(Scheduler, s => s.LastRun is not null);

        var (status, health) = await GetHealthAsync();

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("Degraded", health.GetProperty("status").GetString());
        var description = health.GetProperty("description").GetString()!;
        Assert.Contains("run 1 (manual) failed", description, StringComparison.Ordinal);
        Assert.Contains("the FeatureServer did not answer", description, StringComparison.Ordinal);
        Assert.Contains("the model published before keeps serving", description, StringComparison.Ordinal);
        Assert.Equal("train exited with code 3: the FeatureServer did not answer", health.GetProperty("data").GetProperty("lastRunFailure").GetString());
        Assert.Equal("2026-12-03T03:00:00Z", health.GetProperty("data").GetProperty("nextRun").GetString());
        Assert.Equal(1, health.GetProperty("data").GetProperty("runsFailed").GetInt32());

        // Trying again: still Degraded (nothing new is published yet), and it says a run is going.
        using var again = await _client.PostAsync(RetrainingHost.RunPath, null);
        Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        var (_, retrying) = await GetHealthAsync();
        Assert.Equal("Degraded", retrying.GetProperty("status").GetString());
        Assert.Contains("training: run 2 (manual)", retrying.GetProperty("description").GetString(), StringComparison.Ordinal);
        Complete(1, RunResult.Success("/models/2"));
        await SchedulerHarness.WaitForAsync(Scheduler, s => s.RunsSucceeded == 1);
        Assert.Equal("Healthy", (await GetHealthAsync()).Body.GetProperty("status").GetString());
    }

    private Task<RunResult> RunAsync(CancellationToken cancellationToken)
    {
        var run = new TaskCompletionSource<RunResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_runs)
        {
            _runs.Add(run);
        }

        return run.Task.WaitAsync(cancellationToken);
    }

    private void Complete(int index, RunResult result)
    {
        // The run delegate is called on a pool thread right after POST /run answers; wait until it has been.
        SpinWait.SpinUntil(() =>
        {
            lock (_runs)
            {
                return _runs.Count > index;
            }
        }, TimeSpan.FromSeconds(30));
        lock (_runs)
        {
            _runs[index].SetResult(result);
        }
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> GetHealthAsync()
    {
        using var response = await _client.GetAsync(RetrainingHost.HealthPath);
        return (response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>());
    }
}
