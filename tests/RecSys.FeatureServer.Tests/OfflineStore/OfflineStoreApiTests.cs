using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Consistency;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.OfflineStore;
using RecSys.TestSupport;

namespace RecSys.FeatureServer.Tests.OfflineStore;

public sealed class OfflineStoreApiTests(OfflineApiHost host) : IClassFixture<OfflineApiHost>
{
    private static readonly DateTimeOffset T = new(2026, 11, 10, 12, 0, 0, TimeSpan.Zero);

    private static object Label(string? user, DateTimeOffset? time, double? label = 1, string? item = null) =>
        new { userId = user, itemId = item, eventTime = time, label };

    private async Task SeedAsync()
    {
        var store = host.Services.GetRequiredService<IOfflineFeatureStore>();
        var t = OfflineKit.Ms(T);
        await store.WriteAsync(
            [
                OfflineKit.UserRow("api1", "user_clicks_total", 4, t - 1_000),
                OfflineKit.UserRow("api1", "user_impressions_total", 8, t - 1_000),
                OfflineKit.UserRow("api1", "user_clicks_total", 5, t + 1_000),
            ],
            CancellationToken.None);
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string? errorKey = null)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        if (errorKey is not null)
        {
            using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty(errorKey, out _), problem.RootElement.ToString());
        }
    }

    private static async Task<List<object?[]>> ReadParquetAsync(HttpResponseMessage response, string columns)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Apis.OfflineStoreApi.ParquetContentType, response.Content.Headers.ContentType?.MediaType);
        var path = Path.Combine(Path.GetTempPath(), "recsys-api-ts-" + Guid.NewGuid().ToString("N") + ".parquet");
        try
        {
            await File.WriteAllBytesAsync(path, await response.Content.ReadAsByteArrayAsync());
            return await OfflineKit.QueryAsync($"SELECT {columns} FROM read_parquet({OfflineKit.Sql(path)}) ORDER BY label_index");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task A_JSON_request_returns_a_point_in_time_Parquet_training_set()
    {
        await SeedAsync();
        var response = await host.Client.PostAsJsonAsync(
            "/v1/training-sets",
            new { features = new[] { "user_clicks_total", "user_ctr" }, labels = new[] { Label("api1", T, 1), Label("api1", T.AddHours(1), 0), Label("api-none", T, 0) } });

        var rows = await ReadParquetAsync(response, "label_index, user_id, label, user_clicks_total, user_ctr");
        Assert.Equal([0L, "api1", 1.0, 4.0, 0.5], rows[0]);
        Assert.Equal([1L, "api1", 0.0, 5.0, 5.0 / 8], rows[1]);
        Assert.Equal([2L, "api-none", 0.0, 0.0, 0.0], rows[2]);
    }

    [Fact]
    public async Task Labels_can_be_uploaded_as_CSV()
    {
        await SeedAsync();
        var csv = "user_id,event_time,label\napi1,2026-11-10T12:00:00Z,1\napi1," + OfflineKit.Ms(T.AddHours(1)) + ",0\n";
        using var content = new StringContent(csv, Encoding.UTF8, "text/csv");
        var response = await host.Client.PostAsync("/v1/training-sets?features=user_clicks_total", content);

        var rows = await ReadParquetAsync(response, "label_index, user_clicks_total");
        Assert.Equal([0L, 4.0], rows[0]);
        Assert.Equal([1L, 5.0], rows[1]);
    }

    [Fact]
    public async Task CSV_sample_weights_pass_through_and_a_negative_weight_is_a_400()
    {
        await SeedAsync();
        var csv = "user_id,event_time,label,weight\napi1,2026-11-10T12:00:00Z,1,0.5\napi1,2026-11-10T12:00:00Z,0,\n";
        using var content = new StringContent(csv, Encoding.UTF8, "text/csv");
        var rows = await ReadParquetAsync(await host.Client.PostAsync("/v1/training-sets?features=user_clicks_total", content), "label_index, label, weight, user_clicks_total");
        Assert.Equal([0L, 1.0, 0.5, 4.0], rows[0]);
        Assert.Equal([1L, 0.0, 1.0, 4.0], rows[1]);

        using var negative = new StringContent("user_id,event_time,label,weight\napi1,2026-11-10T12:00:00Z,1,-2\n", Encoding.UTF8, "text/csv");
        await AssertProblemAsync(await host.Client.PostAsync("/v1/training-sets?features=user_clicks_total", negative), HttpStatusCode.BadRequest, "labels[0].weight");
    }

    [Fact]
    public async Task Labels_can_be_uploaded_as_a_multipart_file()
    {
        await SeedAsync();
        using var form = new MultipartFormDataContent();
        var file = new StringContent("user_id,event_time,label\napi1,2026-11-10T12:00:00Z,1\n", Encoding.UTF8);
        file.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
        form.Add(file, "labels", "labels.csv");
        form.Add(new StringContent("user_clicks_total"), "features");
        var response = await host.Client.PostAsync("/v1/training-sets", form);

        var rows = await ReadParquetAsync(response, "label_index, user_clicks_total");
        Assert.Equal([0L, 4.0], Assert.Single(rows));
    }

    [Fact]
    public async Task An_unknown_feature_is_a_400() =>
        await AssertProblemAsync(
            await host.Client.PostAsJsonAsync("/v1/training-sets", new { features = new[] { "no_such_feature" }, labels = new[] { Label("u1", T) } }),
            HttpStatusCode.BadRequest,
            "features");

    [Fact]
    public async Task A_feature_without_an_offline_form_is_a_400() =>
        await AssertProblemAsync(
            await host.Client.PostAsJsonAsync("/v1/training-sets", new { features = new[] { "user_recent_items" }, labels = new[] { Label("u1", T) } }),
            HttpStatusCode.BadRequest,
            "features");

    [Fact]
    public async Task Empty_labels_are_a_400() =>
        await AssertProblemAsync(
            await host.Client.PostAsJsonAsync("/v1/training-sets", new { features = new[] { "user_clicks_total" }, labels = Array.Empty<object>() }),
            HttpStatusCode.BadRequest,
            "labels");

    [Fact]
    public async Task A_missing_event_time_is_a_400() =>
        await AssertProblemAsync(
            await host.Client.PostAsJsonAsync("/v1/training-sets", new { features = new[] { "user_clicks_total" }, labels = new[] { Label("u1", null) } }),
            HttpStatusCode.BadRequest,
            "labels[0].eventTime");

    [Fact]
    public async Task A_bad_entity_id_is_a_400() =>
        await AssertProblemAsync(
            await host.Client.PostAsJsonAsync("/v1/training-sets", new { features = new[] { "user_clicks_total" }, labels = new[] { Label("u 1!", T) } }),
            HttpStatusCode.BadRequest,
            "labels[0].userId");

    [Fact]
    public async Task A_label_without_the_id_its_features_need_is_a_400() =>
        await AssertProblemAsync(
            await host.Client.PostAsJsonAsync("/v1/training-sets", new { features = new[] { "item_views_total" }, labels = new[] { Label("u1", T) } }),
            HttpStatusCode.BadRequest,
            "labels[0].itemId");

    [Fact]
    public async Task Malformed_JSON_is_a_400()
    {
        using var content = new StringContent("{\"features\": [\"user_clicks_total\"], \"labels\": [{\"eventTime\": \"not a time\"}]}", Encoding.UTF8, "application/json");
        await AssertProblemAsync(await host.Client.PostAsync("/v1/training-sets", content), HttpStatusCode.BadRequest, "body");
    }

    [Fact]
    public async Task More_labels_than_the_limit_is_a_413()
    {
        var labels = Enumerable.Range(0, OfflineApiHost.MaxLabels + 1).Select(_ => Label("u1", T)).ToArray();
        await AssertProblemAsync(
            await host.Client.PostAsJsonAsync("/v1/training-sets", new { features = new[] { "user_clicks_total" }, labels }),
            HttpStatusCode.RequestEntityTooLarge);
    }

    [Fact]
    public async Task Backfill_runs_in_the_background_and_reports_progress()
    {
        var log = host.Services.GetRequiredService<IEventLog>();
        await log.AppendAsync([TestData.Event("api-e1", "api-b1", "api-i1", EventType.Click, T), TestData.Event("api-e2", "api-b1", "api-i1", EventType.View, T.AddMinutes(1))], CancellationToken.None);

        var started = await host.Client.PostAsync("/v1/offline/backfill", null);
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var job = (await started.Content.ReadFromJsonAsync<BackfillJob>(OfflineApiHost.Json))!;
        Assert.Equal($"/v1/offline/backfill/{job.Id}", started.Headers.Location?.OriginalString);

        await host.Services.GetRequiredService<BackfillJobs>().WhenIdleAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var done = (await host.Client.GetFromJsonAsync<BackfillJob>($"/v1/offline/backfill/{job.Id}", OfflineApiHost.Json))!;
        Assert.Equal(BackfillJob.Succeeded, done.State);
        Assert.True(done.Progress.EventsRead >= 2);
        Assert.True(done.Progress.RowsWritten > 0);

        var response = await host.Client.PostAsJsonAsync(
            "/v1/training-sets",
            new { features = new[] { "user_clicks_total", "user_views_total" }, labels = new[] { Label("api-b1", T.AddMinutes(5)) } });
        var rows = await ReadParquetAsync(response, "user_clicks_total, user_views_total");
        Assert.Equal([1.0, 1.0], Assert.Single(rows));

        await AssertProblemAsync(await host.Client.GetAsync("/v1/offline/backfill/nope"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Consistency_reports_offline_values_missing_online_and_reconcile_writes_them()
    {
        await SeedAsync();
        var response = await host.Client.GetAsync("/v1/consistency?refresh=true");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var report = (await response.Content.ReadFromJsonAsync<ConsistencyReport>(OfflineApiHost.Json))!;
        Assert.Equal(0.01, report.Tolerance);
        Assert.Contains(report.Examples, m => m.EntityId == "api1" && m.Feature == "user_clicks_total" && m.Online is null && m.Offline!.Value == 5);

        var cached = (await host.Client.GetFromJsonAsync<ConsistencyReport>("/v1/consistency", OfflineApiHost.Json))!;
        Assert.Equal(report.CheckedAt, cached.CheckedAt);

        var reconcile = await host.Client.PostAsync("/v1/consistency/reconcile", null);
        Assert.Equal(HttpStatusCode.OK, reconcile.StatusCode);
        var reconciled = (await reconcile.Content.ReadFromJsonAsync<ReconcileReport>(OfflineApiHost.Json))!;
        Assert.True(reconciled.Written >= 2);

        var after = (await host.Client.GetFromJsonAsync<ConsistencyReport>("/v1/consistency?refresh=true", OfflineApiHost.Json))!;
        Assert.DoesNotContain(after.Examples, m => m.EntityId == "api1");
        Assert.Equal("5", (string?)await host.Garnet.Connection.GetDatabase().HashGetAsync("f:user:api1", "clicks_total"));
    }
}
