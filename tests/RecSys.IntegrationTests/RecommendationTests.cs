using System.Net;
using System.Net.Http.Json;
using RecSys.Core.Contracts;

namespace RecSys.IntegrationTests;

[Collection(AppHostCollection.Name)]
public sealed class RecommendationTests(AppHostFixture fixture) : IAsyncLifetime
{
    private static readonly SemaphoreSlim IngestOnce = new(1, 1);
    private static bool _ingested;

    public async Task InitializeAsync()
    {
        await IngestOnce.WaitAsync();
        try
        {
            if (_ingested)
            {
                return;
            }

            using var items = await fixture.FeatureServer.PutAsJsonAsync("/v1/items", new ItemBatchRequest(TestWorld.Items()), JsonDefaults.Options);
            Assert.Equal(HttpStatusCode.OK, items.StatusCode);
            using var events = await fixture.FeatureServer.PostAsJsonAsync("/v1/events", new EventBatchRequest(TestWorld.Events()), JsonDefaults.Options);
            Assert.Equal(HttpStatusCode.OK, events.StatusCode);
            await fixture.WaitForProcessorAsync(TimeSpan.FromMinutes(2));
            _ingested = true;
        }
        finally
        {
            IngestOnce.Release();
        }
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private async Task<RecommendationResponse> RecommendAsync(string user, int count)
    {
        var response = await fixture.Ranking.GetFromJsonAsync<RecommendationResponse>($"/v1/recommendations/{user}?count={count}", JsonDefaults.Options);
        Assert.NotNull(response);
        return response;
    }

    [Fact]
    public async Task A_user_who_follows_and_likes_one_creator_gets_recommendations_led_by_that_creator()
    {
        var response = await RecommendAsync(TestWorld.JazzFan, 10);

        Assert.Equal(10, response.Items.Count);
        var top5 = response.Items.Take(5).Select(i => i.ItemId).ToList();
        Assert.StartsWith("it-jazz-", top5[0], StringComparison.Ordinal);
        Assert.True(top5.Count(id => id.StartsWith("it-jazz-", StringComparison.Ordinal)) >= 4, string.Join(",", top5));
        Assert.Contains(response.Items[0].Sources, s => s is "creator" or "content" or "recent_similar");
        Assert.False(string.IsNullOrEmpty(response.Metadata.RankerVersion));
        Assert.Contains("retrieval", response.Metadata.StageMs.Keys);
    }

    [Fact]
    public async Task A_user_whose_history_favours_one_category_gets_recommendations_led_by_it()
    {
        var response = await RecommendAsync(TestWorld.RockFan, 10);

        var top5 = response.Items.Take(5).Select(i => i.ItemId).ToList();
        Assert.StartsWith("it-rock-", top5[0], StringComparison.Ordinal);
        Assert.True(top5.Count(id => id.StartsWith("it-rock-", StringComparison.Ordinal)) >= 4, string.Join(",", top5));
    }

    [Fact]
    public async Task Seen_items_never_come_back()
    {
        foreach (var (user, history) in new[] { (TestWorld.JazzFan, TestWorld.JazzFanHistory), (TestWorld.RockFan, TestWorld.RockFanHistory) })
        {
            var response = await RecommendAsync(user, 200);
            Assert.NotEmpty(response.Items);
            Assert.Empty(response.Items.Select(i => i.ItemId).Intersect(history));
            Assert.Equal(response.Items.Count, response.Items.Select(i => i.ItemId).Distinct().Count());
        }
    }

    [Fact]
    public async Task A_user_without_history_gets_popular_items()
    {
        var response = await RecommendAsync("it-u-newcomer", 10);

        Assert.Equal(10, response.Items.Count);
        Assert.All(response.Items, i => Assert.Contains("trending", i.Sources));
    }

    [Fact]
    public async Task The_seeded_demo_world_serves_recommendations()
    {
        // The seed resource generated users u0..; its first user has history.
        var seed = await fixture.App.ResourceNotifications.WaitForResourceAsync(
            Core.Domain.ServiceNames.Trainer, e => e.Snapshot.State?.Text == KnownResourceStates.Finished || e.Snapshot.ExitCode is not null)
            .WaitAsync(TimeSpan.FromMinutes(3));
        Assert.Equal(0, seed.Snapshot.ExitCode);

        var status = await fixture.FeatureServer.GetFromJsonAsync<FeatureServerStatus>("/v1/status", JsonDefaults.Options);
        Assert.NotNull(status);
        Assert.True(status.Items >= 600, $"items: {status.Items}");

        // The seed also loaded the world's item and user vectors, so the collaborative (ANN) source takes part.
        var response = await RecommendAsync("u1", 50);
        Assert.NotEmpty(response.Items);
        Assert.Contains(response.Items, i => i.Sources.Contains("collaborative"));
        Assert.Empty(response.Metadata.Degraded);
    }
}
