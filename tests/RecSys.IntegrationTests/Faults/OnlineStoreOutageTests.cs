using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using RecSys.Core.Contracts;
using RecSys.Core.Domain;

namespace RecSys.IntegrationTests.Faults;

/// <summary>
/// The online store away for a minute under light load, twice: its process killed (connections refused) and frozen (SIGSTOP: the port
/// accepts, nothing answers). Ingestion keeps accepting into the durable log; recommendations keep answering, in time and
/// never empty; Ranking's health answers promptly and says degraded; once the store is back, every accepted event is
/// applied exactly once.
/// </summary>
[Collection(FaultsCollection.Name)]
public sealed class OnlineStoreOutageTests(AppHostFixture fixture) : FaultTestBase(fixture)
{
    public static readonly TimeSpan OutageDuration = TimeSpan.FromSeconds(60);

    private const string Store = "garnet";

    [Fact]
    public async Task Store_killed_for_a_minute_degrades_serving_and_loses_no_event()
    {
        await ReadyAsync();
        await RunOutageAsync(
            "killed",
            begin: async () =>
            {
                // Killed: Aspire's stop command under load left the resource "Unknown" after its wait ran out.
                await Faults.KillAsync(Store, "RecSys.OnlineStore");
                Assert.True(await FaultControl.RefusesAsync(Fixture.OnlineStorePort), "The stopped store still accepts connections.");
            },
            end: () => Faults.StartAndWaitHealthyAsync(Store));
    }

    [Fact]
    public async Task Store_frozen_for_a_minute_degrades_serving_and_loses_no_event()
    {
        await ReadyAsync();
        var pid = Faults.ServiceProcessId(Store, "RecSys.OnlineStore");
        var frozen = false;
        try
        {
            await RunOutageAsync(
                "frozen",
                begin: () =>
                {
                    FaultControl.Signal(pid, "STOP");
                    frozen = true;
                    return Task.CompletedTask;
                },
                end: async () =>
                {
                    FaultControl.Signal(pid, "CONT");
                    frozen = false;
                    await Faults.WaitHealthyAsync(Store);
                });
        }
        finally
        {
            if (frozen)
            {
                FaultControl.Signal(pid, "CONT");
            }
        }
    }

    private async Task RunOutageAsync(string mode, Func<Task> begin, Func<Task> end)
    {
        var item = $"it-fault-{mode}-item";
        await PutItemAsync(item);
        await WaitAppliedAsync();
        var before = await Faults.ItemCounterAsync(item, "item_events_total");
        var healthBefore = await RankingHealthAsync();
        Assert.Equal("Healthy", healthBefore.OnlineStore);

        var requests = new ConcurrentBag<(HttpStatusCode Status, TimeSpan Elapsed, int Items, IReadOnlyList<string> Degraded)>();
        var health = new ConcurrentBag<(TimeSpan At, ServiceHealth Health)>();
        var retrievalHealth = new ConcurrentBag<(TimeSpan At, ServiceHealth Health)>();
        var accepted = new ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        var ingestFailures = new ConcurrentBag<string>();

        await begin();
        var outage = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(OutageDuration);
        using var ranking = Faults.RawClient(ServiceNames.Ranking, AppHostFixture.ReaderKey);
        using var producer = Faults.RawClient(ServiceNames.FeatureServer, AppHostFixture.ProducerKey);
        string[] users = ["u1", "u2", "u3", TestWorld.JazzFan, "it-fault-cold-user"];

        async Task RecommendLoop(int worker)
        {
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                var started = Stopwatch.StartNew();
                try
                {
                    using var response = await ranking.GetAsync($"/v1/recommendations/{users[(n + worker) % users.Length]}?count=10");
                    var body = response.IsSuccessStatusCode ? await response.Content.ReadFromJsonAsync<RecommendationResponse>(JsonDefaults.Options) : null;
                    requests.Add((response.StatusCode, started.Elapsed, body?.Items.Count ?? 0, body?.Metadata.Degraded ?? []));
                }
                catch (HttpRequestException)
                {
                    requests.Add((0, started.Elapsed, 0, []));
                }

                await Task.Delay(250);
            }
        }

        async Task IngestLoop()
        {
            EventDto[]? previous = null;
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                var batch = Enumerable.Range(0, 5).Select(k => Click($"it-fault-{mode}-{n}-{k}", $"it-fault-u{k}", item)).ToArray();
                // Each batch is sent, then the previous one again: a client retry the log must not double.
                foreach (var events in previous is null ? [batch] : new[] { batch, previous })
                {
                    using var response = await producer.PostAsJsonAsync("/v1/events", new EventBatchRequest(events), JsonDefaults.Options);
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        foreach (var e in events)
                        {
                            accepted[e.EventId!] = true;
                        }
                    }
                    else
                    {
                        ingestFailures.Add($"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                    }
                }

                previous = batch;
                await Task.Delay(2000);
            }
        }

        async Task HealthLoop()
        {
            while (!stop.IsCancellationRequested)
            {
                var at = outage.Elapsed;
                health.Add((at, await RankingHealthAsync()));
                retrievalHealth.Add((outage.Elapsed, await ServiceHealthAsync(ServiceNames.Retrieval)));
                await Task.Delay(3000);
            }
        }

        try
        {
            await Task.WhenAll(RecommendLoop(0), RecommendLoop(1), IngestLoop(), HealthLoop());
        }
        finally
        {
            await end();
        }

        // Serving: every request answered 200, in time, with a list; the store-less ones from the last-known list.
        Assert.NotEmpty(requests);
        var failed = requests.Where(r => r.Status != HttpStatusCode.OK).ToList();
        Assert.True(failed.Count == 0, $"{failed.Count} of {requests.Count} requests failed: {string.Join(", ", failed.Select(f => (int)f.Status).Distinct())}");
        var slowest = requests.Max(r => r.Elapsed);
        Assert.True(slowest < RequestDeadline, $"The slowest of {requests.Count} requests took {slowest.TotalSeconds:F1} s (deadline {RequestDeadline.TotalSeconds} s).");
        Assert.DoesNotContain(requests, r => r.Items == 0);
        Assert.Contains(requests, r => r.Degraded.Contains("last-known-popular"));

        // Health: prompt, and degraded (not unhealthy) once the store is seen gone.
        Assert.NotEmpty(health);
        Assert.All(health, h => Assert.True(h.Health.Elapsed < HealthDeadline, $"/health took {h.Health.Elapsed.TotalSeconds:F1} s at {h.At.TotalSeconds:F0} s"));
        Assert.All(health.Where(h => h.At > TimeSpan.FromSeconds(5)), h =>
        {
            Assert.Equal("Degraded", h.Health.OnlineStore);
            Assert.Equal("Degraded", h.Health.Status);
        });

        // Retrieval too: still serving what it can (the index is in process), so degraded, never unhealthy.
        Assert.All(retrievalHealth, h => Assert.True(h.Health.Elapsed < HealthDeadline, $"Retrieval's /health took {h.Health.Elapsed.TotalSeconds:F1} s at {h.At.TotalSeconds:F0} s"));
        Assert.All(retrievalHealth.Where(h => h.At > TimeSpan.FromSeconds(5)), h => Assert.Equal("Degraded", h.Health.OnlineStore));

        // Ingestion: accepted throughout; after the store returns, each accepted event applied once (resends included).
        Assert.Empty(ingestFailures);
        Assert.True(accepted.Count >= 50, $"Only {accepted.Count} events were accepted during the outage.");
        await WaitAppliedAsync();
        Assert.Equal(before + accepted.Count, await Faults.ItemCounterAsync(item, "item_events_total"));
        // Ranking's connection reconnects on its own backoff: its check turns healthy again within a minute.
        using var recovered = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        while ((await RankingHealthAsync(recovered.Token)).OnlineStore != "Healthy")
        {
            await Task.Delay(500, recovered.Token);
        }
    }
}
