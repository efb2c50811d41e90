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

    /// <summary>Waits until the one-shot seed resource has finished, and checks that it succeeded.</summary>
    private async Task SeededAsync()
    {
        var seed = await fixture.App.ResourceNotifications.WaitForResourceAsync(
            Core.Domain.ServiceNames.Seed, e => e.Snapshot.State?.Text == KnownResourceStates.Finished || e.Snapshot.ExitCode is not null)
            .WaitAsync(TimeSpan.FromMinutes(3));
        Assert.Equal(0, seed.Snapshot.ExitCode);
    }

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
        await SeededAsync();

        var status = await fixture.FeatureServer.GetFromJsonAsync<FeatureServerStatus>("/v1/status", JsonDefaults.Options);
        Assert.NotNull(status);
        Assert.True(status.Items >= 600, $"items: {status.Items}");

        // The seed also trained embeddings on the events it sent (ALS, content vectors for cold items) and published them,
        // so the collaborative (ANN) source takes part with learned vectors.
        var response = await RecommendAsync("u1", 50);
        Assert.NotEmpty(response.Items);
        Assert.Contains(response.Items, i => i.Sources.Contains("collaborative"));
        // Only "model" may be degraded: the AppHost publishes no ranker release yet, so the fused score ranks.
        Assert.All(response.Metadata.Degraded, d => Assert.Equal("model", d));
    }

    [Fact]
    public async Task An_engagement_moves_the_users_embedding_towards_the_item()
    {
        // The seed published its trained item vectors through Retrieval, which mirrors them into the feature store.
        await SeededAsync();

        // A user without a base embedding starts from the first item engaged with, then moves 10% towards the next.
        var user = "it-ema-" + Guid.NewGuid().ToString("N")[..8];
        var now = DateTimeOffset.UtcNow;
        EventDto[] events =
        [
            new(user + "-1", user, "i1", null, "like", null, now.AddSeconds(-2)),
            new(user + "-2", user, "i2", null, "click", null, now.AddSeconds(-1)),
        ];
        using var posted = await fixture.FeatureServer.PostAsJsonAsync("/v1/events", new EventBatchRequest(events), JsonDefaults.Options);
        Assert.Equal(HttpStatusCode.OK, posted.StatusCode);
        await fixture.WaitForProcessorAsync(TimeSpan.FromMinutes(2));

        var features = await fixture.FeatureServer.GetFromJsonAsync<OnlineFeaturesResponse>(
            $"/v1/features/online?entities=user:{user},item:i1,item:i2&features=user_embedding_ema,item_embedding", JsonDefaults.Options);
        Assert.NotNull(features);
        var ema = features.Entities[0].Features["user_embedding_ema"];
        var i1 = features.Entities[1].Features["item_embedding"].Vector!;
        var i2 = features.Entities[2].Features["item_embedding"].Vector!;
        Assert.False(ema.IsDefault);
        Assert.Equal(i1.Count, ema.Vector!.Count);
        for (var d = 0; d < i1.Count; d++)
        {
            Assert.Equal((0.9f * i1[d]) + (0.1f * i2[d]), ema.Vector[d], 5);
        }
    }
}
