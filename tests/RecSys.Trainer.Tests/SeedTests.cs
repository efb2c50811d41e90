using System.Net;
using System.Text.Json;
using RecSys.Core.Contracts;
using RecSys.Trainer.Commands;
using RecSys.Trainer.Ingestion;

namespace RecSys.Trainer.Tests;

public sealed class SeedTests
{
    /// <summary>A FeatureServer stand-in: refuses connections at first, counts what it receives, catches up after a few polls.</summary>
    private sealed class FakeFeatureServer
    {
        private long _items;
        private long _events;
        private int _statusCalls;

        public FakeFeatureServer(long initialItems = 0, int refuseFirst = 2)
        {
            _items = initialItems;
            Handler = new FakeHandler((request, body, call) =>
            {
                if (call <= refuseFirst)
                {
                    throw new HttpRequestException("Connection refused");
                }

                switch (request.RequestUri!.AbsolutePath)
                {
                    case "/v1/items":
                        var items = JsonSerializer.Deserialize<ItemBatchRequest>(body, JsonDefaults.Options)!.Items!.Count;
                        Interlocked.Add(ref _items, items);
                        return FakeHandler.Json(HttpStatusCode.OK, $$"""{"upserted":{{items}},"rejected":0,"errors":[]}""");
                    case "/v1/events":
                        var events = JsonSerializer.Deserialize<EventBatchRequest>(body, JsonDefaults.Options)!.Events!.Count;
                        Interlocked.Add(ref _events, events);
                        return FakeHandler.Json(HttpStatusCode.OK, $$"""{"accepted":{{events}},"rejected":0,"errors":[],"logPosition":{{_events}}}""");
                    default:
                        // The processor lags two polls behind once events exist.
                        var polls = Interlocked.Increment(ref _statusCalls);
                        var tail = Interlocked.Read(ref _events);
                        var processed = tail > 0 && polls < 4 ? tail / 2 : tail;
                        var status = new FeatureServerStatus(Interlocked.Read(ref _items), tail, processed, processed, 0);
                        return FakeHandler.Json(HttpStatusCode.OK, JsonSerializer.Serialize(status, JsonDefaults.Options));
                }
            });
        }

        public FakeHandler Handler { get; }
        public long Events => Interlocked.Read(ref _events);
        public long Items => Interlocked.Read(ref _items);
    }

    [Fact]
    public async Task Seeds_an_empty_server_and_waits_until_it_caught_up()
    {
        var server = new FakeFeatureServer();
        var cli = new CliHarness(server.Handler);

        var code = await cli.RunAsync("seed", "--target", "http://featureserver.test", "--if-empty", "--users", "60", "--items", "150", "--days", "3", "--events-per-user", "30");

        Assert.Equal(0, code);
        Assert.Equal(150, server.Items);
        Assert.True(server.Events > 0);
        Assert.Contains($"{server.Events:N0} events applied", cli.Output);
        var firstEvents = server.Handler.Requests.FindIndex(r => r.Path == "/v1/events");
        var lastItems = server.Handler.Requests.FindLastIndex(r => r.Path == "/v1/items");
        Assert.True(lastItems < firstEvents, "items are sent before events");
    }

    [Fact]
    public async Task If_empty_does_nothing_when_the_server_has_items()
    {
        var server = new FakeFeatureServer(initialItems: 10, refuseFirst: 0);
        var cli = new CliHarness(server.Handler);

        Assert.Equal(0, await cli.RunAsync("seed", "--if-empty", "--target", "http://featureserver.test"));
        Assert.Contains("already seeded", cli.Output);
        Assert.All(server.Handler.Requests, r => Assert.Equal("/v1/status", r.Path));
    }

    [Fact]
    public async Task Target_comes_from_aspire_service_discovery_when_not_given()
    {
        var server = new FakeFeatureServer(initialItems: 1, refuseFirst: 0);
        var cli = new CliHarness(server.Handler, new Dictionary<string, string> { [TargetResolver.HttpVariable] = "http://from-aspire:1234" });

        Assert.Equal(0, await cli.RunAsync("seed", "--if-empty"));
        Assert.Contains("http://from-aspire:1234/", cli.Output);
        Assert.Equal("services__featureserver__http__0", TargetResolver.HttpVariable);
        Assert.Equal(new Uri("http://localhost:5300"), TargetResolver.Resolve(null, _ => null));
    }

    [Fact]
    public async Task Unreachable_server_fails_after_the_wait_timeout()
    {
        var down = new FakeHandler((_, _, _) => throw new HttpRequestException("Connection refused"));
        var cli = new CliHarness(down);

        Assert.Equal(ExitCodes.Unreachable, await cli.RunAsync("seed", "--target", "http://featureserver.test", "--wait-timeout", "0"));
        Assert.Contains("did not answer", cli.Output);
    }

    [Fact]
    public async Task Bad_target_url_is_refused()
    {
        var cli = new CliHarness();
        Assert.Equal(1, await cli.RunAsync("seed", "--target", "not a url"));
        Assert.Contains("not an http(s) URL", cli.Output);
    }
}
