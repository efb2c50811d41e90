using System.Net;
using System.Net.Http.Json;
using RecSys.Core.Contracts;
using RecSys.Learning.Registry;

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

    /// <summary>
    /// The answer of a system that is not degrading candidate generation. The seed trains while these tests run, and on a
    /// loaded 2-core machine a source can miss its 100 ms budget or Retrieval its deadline; the answer then rightly leans on
    /// the sources that did answer (trending, the fallback), which is not what the taste tests are about. Retried for up to
    /// a minute; the last answer is returned whatever it is, so a lasting degradation still fails the test, with its cause.
    /// Only "model" (Ranking has not loaded the seed's release yet) and "candidates-reduced" (fewer candidates, every
    /// source still asked) are accepted.
    /// </summary>
    private async Task<RecommendationResponse> RecommendUndegradedAsync(string user, int count)
    {
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (true)
        {
            var response = await RecommendAsync(user, count);
            if (response.Metadata.Degraded.All(d => d is "model" or "candidates-reduced") || DateTime.UtcNow > deadline)
            {
                return response;
            }

            await Task.Delay(TimeSpan.FromSeconds(1));
        }
    }

    /// <summary>What a failed taste assertion needs to be understood: each item with its sources, and what answered.</summary>
    private static string Describe(RecommendationResponse response) =>
        string.Join(", ", response.Items.Select(i => $"{i.ItemId} [{string.Join("+", i.Sources)}]"))
        + $"; ranker {response.Metadata.RankerVersion}; degraded [{string.Join(", ", response.Metadata.Degraded)}]"
        + $"; candidates {response.Metadata.CandidatesConsidered}";

    // The taste tests pin what is deterministic: candidate generation (the sources and their weighted fusion) leads with the
    // user's taste. The learned ranker then orders what it gets by what it learned from the seeded demo world, where this
    // hand-made world is a small island whose "other" items are the most viewed and co-viewed with everything (a CI run
    // served other-19 and other-28 above the jazz items, both proposed as co-engaged with the fan's history); so Ranking's
    // answer is held to keeping the taste well represented and personal, not to the fused order.
    [Fact]
    public async Task A_user_who_follows_and_likes_one_creator_gets_recommendations_led_by_that_creator()
    {
        var candidates = await CandidatesAsync(TestWorld.JazzFan, 10);
        var topCandidates = candidates.Candidates.Take(5).Select(c => c.ItemId).ToList();
        Assert.True(topCandidates[0].StartsWith("it-jazz-", StringComparison.Ordinal), Describe(candidates));
        Assert.True(topCandidates.Count(id => id.StartsWith("it-jazz-", StringComparison.Ordinal)) >= 4, Describe(candidates));
        Assert.Contains("creator", candidates.Candidates[0].Sources);

        var response = await RecommendUndegradedAsync(TestWorld.JazzFan, 10);
        Assert.Equal(10, response.Items.Count);
        var jazz = response.Items.Where(i => i.ItemId.StartsWith("it-jazz-", StringComparison.Ordinal)).ToList();
        Assert.True(jazz.Count >= 3, Describe(response));
        Assert.All(jazz, i => Assert.Contains("creator", i.Sources));
        Assert.True(response.Items[0].Sources.Any(s => s is "creator" or "content" or "recent_similar" or "collaborative"), Describe(response));
        Assert.False(string.IsNullOrEmpty(response.Metadata.RankerVersion));
        Assert.Contains("retrieval", response.Metadata.StageMs.Keys);
    }

    [Fact]
    public async Task A_user_whose_history_favours_one_category_gets_recommendations_led_by_it()
    {
        var candidates = await CandidatesAsync(TestWorld.RockFan, 10);
        var topCandidates = candidates.Candidates.Take(5).Select(c => c.ItemId).ToList();
        Assert.True(topCandidates[0].StartsWith("it-rock-", StringComparison.Ordinal), Describe(candidates));
        Assert.True(topCandidates.Count(id => id.StartsWith("it-rock-", StringComparison.Ordinal)) >= 4, Describe(candidates));

        var response = await RecommendUndegradedAsync(TestWorld.RockFan, 10);
        Assert.True(response.Items.Count(i => i.ItemId.StartsWith("it-rock-", StringComparison.Ordinal)) >= 3, Describe(response));
        Assert.True(response.Items[0].Sources.Any(s => s is "creator" or "content" or "recent_similar" or "collaborative"), Describe(response));
    }

    /// <summary>Retrieval's fused candidates for the user, asked again while a source is degraded (as for Ranking's answer).</summary>
    private async Task<CandidateResponse> CandidatesAsync(string user, int count)
    {
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (true)
        {
            using var posted = await fixture.Retrieval.PostAsJsonAsync("/v1/candidates", new CandidateRequest(user, null, count, null), JsonDefaults.Options);
            Assert.Equal(HttpStatusCode.OK, posted.StatusCode);
            var response = await posted.Content.ReadFromJsonAsync<CandidateResponse>(JsonDefaults.Options);
            Assert.NotNull(response);
            if (response.Degraded.Count == 0 || DateTime.UtcNow > deadline)
            {
                return response;
            }

            await Task.Delay(TimeSpan.FromSeconds(1));
        }
    }

    private static string Describe(CandidateResponse response) =>
        string.Join(", ", response.Candidates.Select(c => $"{c.ItemId} [{string.Join("+", c.Sources)}]"))
        + $"; degraded [{string.Join(", ", response.Degraded)}]";

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
        // Only "model" may be degraded: Ranking may not have loaded the release the seed trained yet (it looks every 2 s here),
        // and "candidates-reduced" when this shared machine made Ranking's latency exceed its target (fewer candidates, still every source).
        Assert.All(response.Metadata.Degraded, d => Assert.Contains(d, new[] { "model", "candidates-reduced" }));
    }

    [Fact]
    public async Task The_trained_demo_ranker_serves_and_a_corrupt_release_leaves_it_serving()
    {
        // The seed trains a ranker release on the demo world and activates it in the registry under the data root.
        await SeededAsync();
        var registry = new ModelRegistry(Path.Combine(fixture.DataRoot, "models"));
        var trained = registry.GetActive(ModelKinds.Rankers);
        Assert.NotNull(trained);
        var served = await WaitServedAsync(trained.Version, TimeSpan.FromMinutes(1));
        Assert.DoesNotContain("model", served.Metadata.Degraded);
        Assert.NotNull(served.Metadata.Models);
        Assert.Equal(trained.Version, served.Metadata.Models["release"]);

        // A newer release whose model files are damaged after registration (a bad disk, a partial copy) is activated: the
        // registry's hashes still match what was registered, so only loading it can tell.
        var corrupt = "it-corrupt-" + Guid.NewGuid().ToString("N")[..6];
        var folder = registry.FolderFor(ModelKinds.Rankers, corrupt);
        CopyFolder(registry.PathOf(trained), folder);
        foreach (var onnx in Directory.GetFiles(folder, "*.onnx", SearchOption.AllDirectories))
        {
            File.WriteAllBytes(onnx, [0x08, 0x07, 0xFF, 0xFF, 0x00, 0x42]);
        }

        registry.Register(new ModelRegistration(ModelKinds.Rankers, corrupt, DateTimeOffset.UtcNow, trained.Data, trained.Features, trained.OfflineMetrics));
        registry.Activate(ModelKinds.Rankers, corrupt);
        try
        {
            // Ranking looks again every 2 s (set by the fixture), rejects it and keeps serving the release it had, not the fused score.
            using var health = fixture.CreateClient(Core.Domain.ServiceNames.Ranking, null);
            var deadline = DateTime.UtcNow.AddMinutes(1);
            while (!(await health.GetStringAsync("/health")).Contains(corrupt, StringComparison.Ordinal))
            {
                Assert.True(DateTime.UtcNow < deadline, "Ranking never reported the corrupt release's load failure in /health.");
                await Task.Delay(500);
            }

            for (var i = 0; i < 5; i++)
            {
                using var response = await fixture.Ranking.GetAsync($"/v1/recommendations/u{i}?count=10");
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                var body = await response.Content.ReadFromJsonAsync<RecommendationResponse>(JsonDefaults.Options);
                Assert.NotNull(body);
                Assert.NotEmpty(body.Items);
                Assert.Equal(trained.Version, body.Metadata.RankerVersion);
                Assert.DoesNotContain("model", body.Metadata.Degraded);
            }
        }
        finally
        {
            // Leave the registry as the other tests found it: the corrupt version failed, the trained one active again.
            registry.MarkFailed(ModelKinds.Rankers, corrupt, "corrupt model files (integration test)");
        }
    }

    private async Task<RecommendationResponse> WaitServedAsync(string release, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var response = await RecommendAsync("u1", 10);
            if (response.Metadata.RankerVersion == release || DateTime.UtcNow > deadline)
            {
                Assert.Equal(release, response.Metadata.RankerVersion);
                return response;
            }

            await Task.Delay(500);
        }
    }

    private static void CopyFolder(string from, string to)
    {
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
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
