using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using RecSys.Core.Contracts;
using Microsoft.Extensions.DependencyInjection;
using RecSys.Core.Domain;
using RecSys.FeatureServer.Apis;
using RecSys.FeatureStore.EventLog;

namespace RecSys.FeatureServer.Tests.Export;

/// <summary>GET /v1/export/events and /v1/export/items against the in-process FeatureServer (own factory: ids do not clash).</summary>
public sealed class ExportApiTests : IDisposable
{
    private static readonly DateTimeOffset Base = DateTimeOffset.UtcNow.AddDays(-5);
    private readonly FeatureServerFactory _factory = new();
    private readonly HttpClient _client;

    public ExportApiTests() => _client = _factory.CreateClient();

    public void Dispose()
    {
        _client.Dispose();
        _factory.Dispose();
    }

    private async Task<List<T>> ReadLinesAsync<T>(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(ExportApi.NdjsonContentType, response.Content.Headers.ContentType?.MediaType);
        Assert.True(response.Headers.Contains(ExportApi.EndPositionHeader));
        var text = await response.Content.ReadAsStringAsync();
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonSerializer.Deserialize<T>(line, FeatureServerFactory.Json)!)
            .ToList();
    }

    private async Task SendAsync(int events)
    {
        var items = new ItemBatchRequest([
            new ItemDto("x-i1", "x-c1", ["drama"], ["old"], Base, true, "First title"),
            new ItemDto("x-i2", null, ["comedy", "drama"], [], Base, true, "Second"),
        ]);
        using (var response = await _client.PutAsJsonAsync("/v1/items", items, FeatureServerFactory.Json))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // Several batches, so the export spans several reads of the log.
        for (var start = 0; start < events; start += 1_000)
        {
            var batch = Enumerable.Range(start, Math.Min(1_000, events - start))
                .Select(e => new EventDto($"x-e{e}", $"x-u{e % 7}", e % 2 == 0 ? "x-i1" : "x-i2", null, e % 3 == 0 ? "rating" : "click", e % 3 == 0 ? 4.5 : null, Base.AddMinutes(e)))
                .ToList();
            using var response = await _client.PostAsJsonAsync("/v1/events", new EventBatchRequest(batch), FeatureServerFactory.Json);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    [Fact]
    public async Task Exports_every_event_in_log_order_with_its_fields()
    {
        await SendAsync(5_000);

        using var response = await _client.GetAsync("/v1/export/events");
        var events = await ReadLinesAsync<EventDto>(response);

        Assert.Equal(5_000, events.Count);
        Assert.Equal(Enumerable.Range(0, 5_000).Select(e => $"x-e{e}"), events.Select(e => e.EventId));
        var third = events[3];
        Assert.Equal("x-u3", third.UserId);
        Assert.Equal("x-i2", third.ItemId);
        Assert.Equal("rating", third.Type);
        Assert.Equal(4.5, third.Value);
        Assert.Equal(Base.AddMinutes(3).ToUnixTimeMilliseconds(), third.EventTime!.Value.ToUnixTimeMilliseconds());
    }

    [Fact]
    public async Task The_time_window_keeps_events_from_inclusive_until_exclusive()
    {
        await SendAsync(100);
        var from = Uri.EscapeDataString(Base.AddMinutes(10).ToString("O"));
        var until = Uri.EscapeDataString(Base.AddMinutes(20).ToString("O"));

        using var response = await _client.GetAsync($"/v1/export/events?from={from}&until={until}");
        var events = await ReadLinesAsync<EventDto>(response);

        Assert.Equal(Enumerable.Range(10, 10).Select(e => $"x-e{e}"), events.Select(e => e.EventId));
    }

    [Fact]
    public async Task Polling_after_the_returned_end_position_reads_only_new_events_and_after_end_starts_from_now()
    {
        await SendAsync(30);
        using var atEnd = await _client.GetAsync("/v1/export/events?after=end");
        Assert.Empty(await ReadLinesAsync<EventDto>(atEnd));
        var cursor = atEnd.Headers.GetValues(ExportApi.EndPositionHeader).Single();

        var batch = Enumerable.Range(0, 3).Select(e => new EventDto($"x-new{e}", "x-u1", "x-i1", null, "impression", null, Base)
        {
            RequestId = "req-1",
            ModelVersion = "v7",
        }).Append(new EventDto("x-click", "x-u1", "x-i1", null, "click", null, Base) { RequestId = "req-1" }).ToList();
        using (var posted = await _client.PostAsJsonAsync("/v1/events", new EventBatchRequest(batch), FeatureServerFactory.Json))
        {
            Assert.Equal(HttpStatusCode.OK, posted.StatusCode);
        }

        using var next = await _client.GetAsync($"/v1/export/events?after={Uri.EscapeDataString(cursor)}");
        var events = await ReadLinesAsync<EventDto>(next);

        Assert.Equal(["x-new0", "x-new1", "x-new2", "x-click"], events.Select(e => e.EventId));
        Assert.All(events, e => Assert.Equal("req-1", e.RequestId));
        Assert.Equal(["v7", "v7", "v7", null], events.Select(e => e.ModelVersion));
        using var empty = await _client.GetAsync($"/v1/export/events?after={Uri.EscapeDataString(next.Headers.GetValues(ExportApi.EndPositionHeader).Single())}");
        Assert.Empty(await ReadLinesAsync<EventDto>(empty));
    }

    [Fact]
    public async Task A_bad_cursor_is_a_400_problem()
    {
        using var response = await _client.GetAsync("/v1/export/events?after=yesterday");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public void A_log_record_written_before_request_ids_existed_still_reads()
    {
        var old = "{\"k\":\"e\",\"event\":{\"eventId\":\"e1\",\"userId\":\"u1\",\"itemId\":\"i1\",\"type\":\"click\",\"eventTime\":\"2026-01-01T00:00:00+00:00\"}}"u8;

        var record = Assert.IsType<EventRecord>(LogRecordSerializer.Deserialize(old));

        Assert.Equal("e1", record.Event.EventId);
        Assert.Null(record.Event.RequestId);
        Assert.Null(record.Event.ModelVersion);
        var withId = record.Event with { RequestId = "r1" };
        Assert.Equal("r1", Assert.IsType<EventRecord>(LogRecordSerializer.Deserialize(LogRecordSerializer.Serialize(new EventRecord(withId)))).Event.RequestId);
    }

    [Fact]
    public async Task Items_are_exported_with_their_metadata()
    {
        await SendAsync(10);

        using var response = await _client.GetAsync("/v1/export/items");
        var items = await ReadLinesAsync<ItemDto>(response);

        Assert.Equal(["x-i1", "x-i2"], items.Select(i => i.Id));
        Assert.Equal(["drama"], items[0].Categories);
        Assert.Equal(["old"], items[0].Tags);
        Assert.Equal("First title", items[0].Title);
        Assert.Equal("x-c1", items[0].CreatorId);
    }

    [Fact]
    public async Task Records_appended_after_the_end_position_are_left_out()
    {
        await SendAsync(50);
        var log = _factory.Services.GetRequiredService<IEventLog>();
        var end = await log.GetEndPositionAsync(CancellationToken.None);
        await log.AppendAsync([new EventRecord(new InteractionEvent("x-late", "x-u1", "x-i1", null, EventType.Click, null, Base))], CancellationToken.None);

        var exported = new List<string>();
        await foreach (var e in EventLogExport.EventsAsync(log, end, ExportWindow.All))
        {
            exported.Add(e.EventId);
        }

        Assert.Equal(50, exported.Count);
        Assert.DoesNotContain("x-late", exported);
    }

    [Fact]
    public async Task An_empty_log_exports_nothing_and_returns_at_once()
    {
        using var response = await _client.GetAsync("/v1/export/events");
        Assert.Empty(await ReadLinesAsync<EventDto>(response));
    }

    [Fact]
    public async Task A_window_that_ends_before_it_starts_is_a_bad_request()
    {
        var from = Uri.EscapeDataString(Base.AddMinutes(20).ToString("O"));
        var until = Uri.EscapeDataString(Base.AddMinutes(10).ToString("O"));

        using var response = await _client.GetAsync($"/v1/export/events?from={from}&until={until}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("must be before", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_malformed_time_is_a_bad_request()
    {
        using var response = await _client.GetAsync("/v1/export/events?from=yesterday");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }
}
