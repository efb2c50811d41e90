using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RecSys.Core.Domain;
using RecSys.FeatureServer.Apis;
using RecSys.FeatureServer.Extensions;
using RecSys.FeatureStore.Deletion;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.OfflineStore;
using RecSys.FeatureStore.Telemetry;
using RecSys.ServiceDefaults;
using RecSys.ServiceDefaults.Security;
using RecSys.TestSupport;

namespace RecSys.FeatureServer.Tests.Users;

/// <summary>
/// <c>DELETE /v1/users/{id}</c> end to end: the FeatureServer's registrations as Program.cs makes them, with security
/// required (an admin and a producer key), the stream processor running, an embedded Garnet and a temporary data folder.
/// </summary>
public sealed class UsersApiTests : IAsyncLifetime
{
    private const string AdminKey = "admin-key-for-the-users-api-tests";
    private const string ProducerKey = "producer-key-for-the-users-api-tests";
    private static readonly DateTimeOffset Base = DateTimeOffset.UtcNow.AddDays(-2);

    private readonly string _data = Path.Combine(Path.GetTempPath(), "recsys-users-api-" + Guid.NewGuid().ToString("N"));
    private readonly EmbeddedGarnet _garnet = new();
    private WebApplication _app = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = Environments.Development });
        builder.WebHost.UseTestServer();
        builder.Configuration["ConnectionStrings:online-store"] = _garnet.ConnectionString;
        builder.Configuration["FeatureServer:DataDirectory"] = _data;
        builder.Configuration["FeatureServer:Consistency:Enabled"] = "false";
        builder.Configuration["RecSys:Security:ApiKeys:ops:Hash"] = ApiKeyHasher.Hash(AdminKey);
        builder.Configuration["RecSys:Security:ApiKeys:ops:Roles:0"] = RecSysRoles.Admin;
        builder.Configuration["RecSys:Security:ApiKeys:app:Hash"] = ApiKeyHasher.Hash(ProducerKey);
        builder.Configuration["RecSys:Security:ApiKeys:app:Roles:0"] = RecSysRoles.Producer;
        builder.AddServiceDefaults();
        builder.AddRecSysSecurity();
        builder.AddFeatureServer();
        builder.AddOfflineStore();
        _app = builder.Build();
        _app.UseProblemDetailsForErrors();
        _app.UseRecSysSecurity();
        _app.MapExportApi();
        _app.MapUsersApi();
        await _app.StartAsync();
        _client = _app.GetTestClient();
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _garnet.Dispose();
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }

    private IEventLog Log => _app.Services.GetRequiredService<IEventLog>();

    private async Task<HttpResponseMessage> DeleteAsync(string id, string? key = AdminKey)
    {
        using var request = new HttpRequestMessage(HttpMethod.Delete, "/v1/users/" + Uri.EscapeDataString(id));
        if (key is not null)
        {
            request.Headers.Add(ApiKeyAuthenticationHandler.HeaderName, key);
        }

        return await _client.SendAsync(request);
    }

    /// <summary>Waits (bounded) until the stream processor has applied the log up to its current tail.</summary>
    private async Task WaitForProcessorAsync()
    {
        var state = _app.Services.GetRequiredService<ProcessorState>();
        var tail = Log.TailPosition;
        for (var i = 0; i < 400 && state.Position < tail; i++)
        {
            await Task.Delay(25);
        }

        Assert.True(state.Position >= tail, $"The stream processor stopped at {state.Position} before the tail {tail}.");
    }

    private static EventRecord Event(string id, string user, string item, EventType type, int minute) =>
        TestData.Event(id, user, item, type, Base.AddMinutes(minute));

    private async Task<bool> AnyKeyOfAsync(string user)
    {
        var db = _garnet.Connection.GetDatabase();
        foreach (var key in UserDeletion.OnlineKeysOf(user).Append(OnlineKeys.UserEmbedding(user)).Append(OnlineKeys.UserEmbeddingEma(user)))
        {
            if (await db.KeyExistsAsync(key))
            {
                return true;
            }
        }

        return false;
    }

    [Fact]
    public async Task Deleting_a_user_removes_their_state_keeps_late_events_from_applying_and_leaves_them_out_of_the_export()
    {
        await Log.AppendAsync(
            [
                TestData.Item("i1", "c1", ["news"]),
                Event("a1", "u1", "i1", EventType.Like, 0),
                Event("a2", "u1", "i1", EventType.View, 1),
                Event("b1", "u2", "i1", EventType.Like, 2),
            ],
            CancellationToken.None);
        await WaitForProcessorAsync();
        Assert.True(await AnyKeyOfAsync("u1"));

        using (var anonymous = await DeleteAsync("u1", key: null))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            Assert.Equal("application/problem+json", anonymous.Content.Headers.ContentType?.MediaType);
        }

        using (var producer = await DeleteAsync("u1", ProducerKey))
        {
            Assert.Equal(HttpStatusCode.Forbidden, producer.StatusCode);
        }

        Assert.True(await AnyKeyOfAsync("u1"));
        using (var response = await DeleteAsync("u1"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var body = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("u1", body.GetProperty("userId").GetString());
            Assert.False(body.GetProperty("alreadyDeleted").GetBoolean());
            Assert.True(body.GetProperty("onlineKeysRemoved").GetInt32() > 0);
        }

        Assert.False(await AnyKeyOfAsync("u1"));
        Assert.True(await AnyKeyOfAsync("u2"));

        // Accepted into the log after the deletion, never applied.
        await Log.AppendAsync([Event("a3", "u1", "i1", EventType.Click, 3), Event("b2", "u2", "i1", EventType.Click, 3)], CancellationToken.None);
        await WaitForProcessorAsync();
        Assert.False(await AnyKeyOfAsync("u1"));

        using var exportRequest = new HttpRequestMessage(HttpMethod.Get, "/v1/export/events");
        exportRequest.Headers.Add("X-Api-Key", AdminKey);
        using var exportResponse = await _client.SendAsync(exportRequest);
        exportResponse.EnsureSuccessStatusCode();
        var export = await exportResponse.Content.ReadAsStringAsync();
        var users = export.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonDocument.Parse(line).RootElement.GetProperty("userId").GetString())
            .ToList();
        Assert.Equal(["u2", "u2"], users);

        using (var again = await DeleteAsync("u1"))
        {
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
            var body = await again.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(body.GetProperty("alreadyDeleted").GetBoolean());
            Assert.Equal(0, body.GetProperty("onlineKeysRemoved").GetInt32());
            Assert.Equal(0, body.GetProperty("embeddingsRemoved").GetInt32());
        }
    }

    [Fact]
    public async Task A_bad_user_id_gets_a_400_problem_and_tombstones_nothing()
    {
        using var response = await DeleteAsync("not a valid id*");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(body.GetProperty("errors").TryGetProperty("id", out _));
        Assert.Equal(0, _app.Services.GetRequiredService<DeletedUsers>().Count);
    }

    [Fact]
    public async Task A_deleted_users_labels_are_left_out_of_training_sets_built_by_the_server()
    {
        using (var response = await DeleteAsync("u7"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var builder = _app.Services.GetRequiredService<TrainingSetBuilder>();
        var output = Path.Combine(_data, "set.parquet");
        var t = Base.ToUnixTimeMilliseconds();
        var stats = await builder.BuildAsync(
            [new LabelRow("u7", null, null, t, 1), new LabelRow("u8", null, null, t, 0)],
            [OfflineKit.Feature("user_clicks_total")],
            output,
            CancellationToken.None);
        Assert.Equal(1, stats.Labels);
        Assert.Equal(1, stats.LabelsOfDeletedUsers);
        var users = await OfflineKit.QueryAsync($"SELECT user_id FROM read_parquet({OfflineKit.Sql(output)})");
        Assert.Equal(["u8"], users.Select(r => (string)r[0]!));
    }
}
