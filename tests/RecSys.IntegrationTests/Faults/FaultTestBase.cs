using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using RecSys.Core.Contracts;
using RecSys.Core.Domain;

namespace RecSys.IntegrationTests.Faults;

/// <summary>
/// What every fault test needs first: the seeded world in place (models, index, trending) and Ranking's last-known popular
/// list read, so that a fault starts from the state a newcomer's running system is in.
/// </summary>
public abstract class FaultTestBase(AppHostFixture fixture)
{
    /// <summary>
    /// The deadline a recommendation must meet under a fault: Ranking's 2 s Retrieval budget plus the fallback's 0.3 s store
    /// budget, with room for a loaded 2-core machine.
    /// </summary>
    public static readonly TimeSpan RequestDeadline = TimeSpan.FromSeconds(5);

    /// <summary>Longest a health probe may take to be "prompt" (the store's check gives up at 2 s).</summary>
    public static readonly TimeSpan HealthDeadline = TimeSpan.FromSeconds(4);

    protected AppHostFixture Fixture { get; } = fixture;

    internal FaultControl Faults { get; } = new(fixture);

    protected async Task ReadyAsync()
    {
        var seed = await Fixture.App.ResourceNotifications.WaitForResourceAsync(
            ServiceNames.Seed, e => e.Snapshot.State?.Text == KnownResourceStates.Finished || e.Snapshot.ExitCode is not null)
            .WaitAsync(TimeSpan.FromMinutes(3));
        Assert.Equal(0, seed.Snapshot.ExitCode);
        await Fixture.WaitForProcessorAsync(TimeSpan.FromMinutes(2));
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        while ((await RankingHealthAsync()).LastKnownItems == 0)
        {
            await Task.Delay(500, cts.Token);
        }
    }

    /// <summary>Ranking's /health: the overall status, the online-store check's, and the last-known list's size.</summary>
    protected Task<ServiceHealth> RankingHealthAsync(CancellationToken cancellationToken = default) =>
        ServiceHealthAsync(ServiceNames.Ranking, cancellationToken);

    /// <summary>A service's /health: the overall status, the online-store check's, and (Ranking) the last-known list's size.</summary>
    protected async Task<ServiceHealth> ServiceHealthAsync(string service, CancellationToken cancellationToken = default)
    {
        using var client = Faults.RawClient(service, AppHostFixture.ReaderKey);
        client.Timeout = TimeSpan.FromSeconds(20);
        var started = DateTimeOffset.UtcNow;
        using var response = await client.GetAsync("/health", cancellationToken);
        var elapsed = DateTimeOffset.UtcNow - started;
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        var checks = doc.RootElement.GetProperty("checks");
        var store = checks.GetProperty(ServiceNames.OnlineStore).GetProperty("status").GetString()!;
        var items = checks.TryGetProperty("last-known-popular", out var list) && list.GetProperty("data") is { ValueKind: JsonValueKind.Object } data
            ? data.GetProperty("items").GetInt32()
            : 0;
        return new ServiceHealth(doc.RootElement.GetProperty("status").GetString()!, store, items, elapsed);
    }

    protected static EventDto Click(string id, string user, string item) =>
        new(id, user, item, null, "click", null, DateTimeOffset.UtcNow);

    protected async Task PutItemAsync(string itemId)
    {
        using var response = await Fixture.FeatureServer.PutAsJsonAsync(
            "/v1/items",
            new ItemBatchRequest([new ItemDto(itemId, "it-fault-creator", ["it-fault"], [], DateTimeOffset.UtcNow.AddDays(-1), true, null)]),
            JsonDefaults.Options);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    protected async Task WaitAppliedAsync()
    {
        // After an outage the processor retries with backoff; everything logged must be applied within this.
        await Fixture.WaitForProcessorAsync(TimeSpan.FromMinutes(2));
    }

    protected sealed record ServiceHealth(string Status, string OnlineStore, int LastKnownItems, TimeSpan Elapsed);
}
