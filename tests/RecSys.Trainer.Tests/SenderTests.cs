using System.Net;
using System.Text.Json;
using RecSys.Core.Contracts;
using RecSys.Trainer.Commands;
using RecSys.Trainer.Ingestion;

namespace RecSys.Trainer.Tests;

public sealed class SenderTests
{
    private static readonly RetryOptions FastRetry = new() { MaxAttempts = 4, BaseDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(5) };

    private static FeatureServerClient Client(FakeHandler handler, List<string>? retries = null) =>
        new(new HttpClient(handler) { BaseAddress = new Uri("http://featureserver.test") }, FastRetry, TimeProvider.System, retries is null ? null : retries.Add);

    private static EventDto Event(int i) =>
        new($"e{i}", "u1", $"i{i}", null, "click", null, DateTimeOffset.FromUnixTimeSeconds(1_700_000_000 + i));

    private static HttpResponseMessage Accepted(string body)
    {
        var count = JsonSerializer.Deserialize<EventBatchRequest>(body, JsonDefaults.Options)!.Events!.Count;
        return FakeHandler.Json(HttpStatusCode.OK, $$"""{"accepted":{{count}},"rejected":0,"errors":[],"logPosition":1}""");
    }

    [Fact]
    public async Task Events_are_sent_in_batches_of_the_configured_size()
    {
        var handler = new FakeHandler((_, body, _) => Accepted(body));
        var sink = new HttpRecordSink(Client(handler), new SendOptions { BatchSize = 5, Concurrency = 2 });

        var result = await sink.SendEventsAsync(Enumerable.Range(0, 12).Select(Event), NullProgress.Instance, CancellationToken.None);

        Assert.Equal(12, result.Accepted);
        Assert.Equal(0, result.Rejected);
        Assert.Equal(3, handler.Calls);
        Assert.All(handler.Requests, r => Assert.Equal((HttpMethod.Post, "/v1/events"), (r.Method, r.Path)));
        var sizes = handler.Requests.Select(r => JsonSerializer.Deserialize<EventBatchRequest>(r.Body, JsonDefaults.Options)!.Events!.Count).Order();
        Assert.Equal([2, 5, 5], sizes);
        var ids = handler.Requests.SelectMany(r => JsonSerializer.Deserialize<EventBatchRequest>(r.Body, JsonDefaults.Options)!.Events!).Select(e => e!.EventId).Order();
        Assert.Equal(Enumerable.Range(0, 12).Select(i => $"e{i}").Order(), ids);
        Assert.Contains("\"type\":\"click\"", handler.Requests[0].Body);
    }

    [Fact]
    public async Task Retries_503_and_refused_connections_then_succeeds()
    {
        var handler = new FakeHandler((_, body, call) => call switch
        {
            1 => new HttpResponseMessage(HttpStatusCode.ServiceUnavailable),
            2 => throw new HttpRequestException("Connection refused"),
            _ => Accepted(body),
        });
        var retries = new List<string>();

        var outcome = await Client(handler, retries).PostEventsAsync([Event(1), Event(2)], CancellationToken.None);

        Assert.Equal(2, outcome.Accepted);
        Assert.Equal(3, handler.Calls);
        Assert.Equal(2, retries.Count);
        Assert.Contains("503", retries[0]);
        Assert.Contains("Connection refused", retries[1]);

        // The same body is sent on every attempt (safe: events are deduplicated by id).
        Assert.Equal(handler.Requests[0].Body, handler.Requests[2].Body);
    }

    [Fact]
    public async Task Gives_up_after_the_last_attempt_with_an_unreachable_error()
    {
        var handler = new FakeHandler((_, _, _) => new HttpResponseMessage(HttpStatusCode.BadGateway));

        var error = await Assert.ThrowsAsync<CliException>(() => Client(handler).PostEventsAsync([Event(1)], CancellationToken.None));

        Assert.Equal(ExitCodes.Unreachable, error.ExitCode);
        Assert.Equal(FastRetry.MaxAttempts, handler.Calls);
        Assert.Contains("502", error.Message);
        Assert.Contains("/v1/events", error.Message);
    }

    [Fact]
    public async Task A_400_is_not_retried_and_its_per_event_errors_are_reported()
    {
        const string problem = """
            {"type":"https://tools.ietf.org/html/rfc9110#section-15.5.1","title":"One or more validation errors occurred.","status":400,
             "detail":"1 of 2 events were accepted and appended; 1 were rejected.",
             "errors":{"events[1]":["userId must be 1 to 64 characters"]},"accepted":1,"rejected":1}
            """;
        var handler = new FakeHandler((_, _, _) => FakeHandler.Json(HttpStatusCode.BadRequest, problem, "application/problem+json"));

        var outcome = await Client(handler).PostEventsAsync([Event(1), Event(2)], CancellationToken.None);

        Assert.Equal(1, handler.Calls);
        Assert.Equal((1, 1), (outcome.Accepted, outcome.Rejected));
        Assert.Equal(["events[1]: userId must be 1 to 64 characters"], outcome.Errors);
    }

    [Fact]
    public void Problem_without_counts_is_read_from_its_error_keys()
    {
        var outcome = ProblemParser.Parse("""{"title":"bad","errors":{"events[0].userId":["x"],"events[0].itemId":["y"],"events[3]":["z"]}}""", 5, "POST /v1/events");
        Assert.Equal((3, 2), (outcome.Accepted, outcome.Rejected));

        var whole = ProblemParser.Parse("""{"title":"bad","errors":{"events":["at most 10000 events per batch"]}}""", 5, "POST /v1/events");
        Assert.Equal((0, 5), (whole.Accepted, whole.Rejected));

        var notJson = ProblemParser.Parse("<html>oops</html>", 4, "POST /v1/events");
        Assert.Equal((0, 4), (notJson.Accepted, notJson.Rejected));
        Assert.Contains("oops", notJson.Errors[0]);
    }

    [Fact]
    public async Task Stop_mode_stops_after_a_refused_batch()
    {
        var handler = new FakeHandler((_, _, _) =>
            FakeHandler.Json(HttpStatusCode.BadRequest, """{"title":"invalid","errors":{"events[0]":["bad type"]},"accepted":4,"rejected":1}"""));
        var sink = new HttpRecordSink(Client(handler), new SendOptions { BatchSize = 5, Concurrency = 1, OnError = OnErrorMode.Stop });

        var result = await sink.SendEventsAsync(Enumerable.Range(0, 100).Select(Event), NullProgress.Instance, CancellationToken.None);

        Assert.True(result.Stopped);
        Assert.Equal(1, result.Rejected);
        Assert.InRange(handler.Calls, 1, 2);
        Assert.Equal(["events[0]: bad type"], result.Reasons);
    }

    [Fact]
    public async Task Ingest_sends_items_before_events_and_exits_2_when_stopped_on_a_400()
    {
        using var dir = new TempDir();
        Assert.Equal(0, await new CliHarness().RunAsync("generate", "--out", dir.Path, "--users", "50", "--items", "100", "--days", "2", "--events-per-user", "20"));

        var handler = new FakeHandler((request, body, _) => request.RequestUri!.AbsolutePath == "/v1/items"
            ? FakeHandler.Json(HttpStatusCode.OK, """{"upserted":100,"rejected":0,"errors":[]}""")
            : FakeHandler.Json(HttpStatusCode.BadRequest, """{"title":"invalid","detail":"0 of 7 events were accepted","errors":{"events":["the store is read-only"]}}""", "application/problem+json"));
        var cli = new CliHarness(handler);

        var code = await cli.RunAsync("ingest", dir.Path, "--target", "http://featureserver.test", "--on-error", "stop", "--batch-size", "40");

        Assert.Equal(ExitCodes.Rejected, code);
        Assert.Equal("/v1/items", handler.Requests[0].Path);
        Assert.Contains(handler.Requests, r => r.Path == "/v1/events");
        Assert.Contains("events: the store is read-only", cli.Output);
        Assert.Contains("stopped", cli.Output);
    }

    [Fact]
    public async Task Generate_to_target_uses_the_api_and_unreachable_target_exits_3()
    {
        var events = 0;
        var handler = new FakeHandler((request, body, _) =>
        {
            if (request.RequestUri!.AbsolutePath == "/v1/items")
            {
                return FakeHandler.Json(HttpStatusCode.OK, """{"upserted":1,"rejected":0,"errors":[]}""");
            }

            Interlocked.Add(ref events, JsonSerializer.Deserialize<EventBatchRequest>(body, JsonDefaults.Options)!.Events!.Count);
            return Accepted(body);
        });
        var cli = new CliHarness(handler);
        Assert.Equal(0, await cli.RunAsync("generate", "--target", "http://featureserver.test", "--users", "40", "--items", "80", "--days", "2", "--events-per-user", "20", "--batch-size", "100"));
        Assert.True(events > 0);
        Assert.Contains(handler.Requests, r => r.Path == "/v1/items");

        var down = new FakeHandler((_, _, _) => throw new HttpRequestException("Connection refused"));
        var downCli = new CliHarness(down);
        Assert.Equal(ExitCodes.Unreachable, await downCli.RunAsync("generate", "--target", "http://featureserver.test", "--users", "10", "--items", "20", "--days", "1"));
        Assert.Contains("Connection refused", downCli.Output);
        Assert.Contains("failed after 4 attempts", downCli.Output);
    }
}
