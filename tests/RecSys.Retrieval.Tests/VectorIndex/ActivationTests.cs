using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.TestHost;
using RecSys.Core.Contracts;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.Serving;
using RecSys.Retrieval.Apis;
using RecSys.Retrieval.VectorIndex;
using static RecSys.Retrieval.Tests.VectorIndex.VectorIndexTestSupport;

namespace RecSys.Retrieval.Tests.VectorIndex;

/// <summary>
/// Activating an embedding version: rebuild from the store's vectors, the recall gate, the one swap, and requests that pin
/// one version. Vectors are tagged: the last component is +1 in v1 and -1 in v2, so any vector read tells its version.
/// </summary>
[Collection(VectorStoreCollection.Name)]
public sealed class ActivationTests : IDisposable
{
    private const int Dim = 8;
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly VectorStoreFixture _store;
    private readonly EmbeddingStore _embeddings;

    public ActivationTests(VectorStoreFixture store)
    {
        _store = store;
        _store.Garnet.Flush();
        _embeddings = new EmbeddingStore(store.Garnet.Connection);
    }

    public void Dispose()
    {
    }

    /// <summary>Random vectors of <paramref name="dim"/> whose last component is <paramref name="tag"/>.</summary>
    private static (string Id, float[] Vector)[] Tagged(string prefix, int count, float tag, int seed, int dim = Dim)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(i =>
        {
            var v = RandomVector(random, dim);
            v[^1] = tag;
            return ($"{prefix}{i:D4}", v);
        })];
    }

    private async Task StageAsync(string version, (string Id, float[] Vector)[] items, (string Id, float[] Vector)[] users, int dim = Dim)
    {
        await _embeddings.CreateVersionAsync(version, dim, None);
        foreach (var chunk in items.Chunk(500))
        {
            await _embeddings.SetItemsAsync(version, chunk, None);
        }

        await _embeddings.SetUsersAsync(version, users, None);
    }

    [Fact]
    public async Task An_activation_rebuilds_from_the_store_swaps_shards_items_and_version_and_moves_the_pointer()
    {
        var options = Options(dimensions: Dim);
        options.Activation.ReadBatchSize = 100;
        using var index = Manager(options, _store.Garnet.Connection, versioned: true);
        var v1 = Tagged("a", 300, 1, seed: 1);
        await StageAsync("v1", v1, Tagged("u", 5, 1, seed: 2));

        var first = await index.ActivateAsync("v1");
        Assert.Equal(ActivationState.Activated, first.State);
        Assert.Equal(300, first.Items);
        Assert.True(first.Recall >= 0.95, $"recall {first.Recall}");
        Assert.Equal(200, first.RecallQueries);
        Assert.Equal("v1", index.EmbeddingVersion);
        Assert.Equal("v1", await _embeddings.GetActiveVersionAsync(None));
        Assert.Equal("a0007", (await index.SearchAsync(v1[7].Vector, 1)).Hits[0].ItemId);

        // v2 has other items (b...), and a0000..a0049 again with new vectors.
        var v2 = Tagged("b", 250, -1, seed: 3).Concat(Tagged("a", 50, -1, seed: 4)).ToArray();
        await StageAsync("v2", v2, Tagged("u", 5, -1, seed: 5));
        var second = await index.ActivateAsync("v2");

        Assert.Equal(ActivationState.Activated, second.State);
        Assert.Equal("v2", index.EmbeddingVersion);
        Assert.Equal("v2", await _embeddings.GetActiveVersionAsync(None));
        Assert.Equal(300, index.GetStatus().Vectors);
        Assert.False(index.TryGetVector("a0100", new float[Dim]), "an item only v1 had is gone");
        var vector = new float[Dim];
        Assert.True(index.TryGetVector("a0001", vector));
        Assert.True(vector[^1] < 0, "the item kept its id and took v2's vector");
        var result = await index.SearchAsync(v2[0].Vector, 10);
        Assert.Equal("v2", result.EmbeddingVersion);
        Assert.Equal(v2[0].Id, result.Hits[0].ItemId);
        // Fusion and eligibility find the collaborative source's items by these keys, as they find other sources' by KeyOf.
        Assert.All(result.Hits, h => Assert.Equal(IndexedItems.KeyOf(h.ItemId), h.Key));
        Assert.Equal(EmbeddingVersionState.Retired, (await _embeddings.GetVersionAsync("v1", None))!.State);
    }

    [Fact]
    public async Task An_index_that_fails_the_recall_check_is_not_swapped_and_the_old_answers_remain()
    {
        // A deliberately weak graph (2 links, beam 4) over 32 dimensions cannot find every true neighbour; recall 1 is required.
        var options = Options(shards: 2, dimensions: 32);
        options.M = 2;
        options.EfConstruction = 4;
        options.EfSearch = 4;
        options.Activation.MinRecall = 1.0;
        using var index = Manager(options, _store.Garnet.Connection, versioned: true);
        var live = RandomItems(200, 32, seed: 9, prefix: "old");
        await index.AddAsync(live);
        var before = await index.SearchAsync(live[3].Vector, 5);
        var versionBefore = index.Version;

        await StageAsync("v2", Tagged("new", 1500, -1, seed: 10, dim: 32), [], dim: 32);
        var status = await index.ActivateAsync("v2");

        Assert.Equal(ActivationState.Rejected, status.State);
        Assert.True(status.Recall < 1.0);
        Assert.Contains("recall@10", status.Reason, StringComparison.Ordinal);
        Assert.Equal(string.Empty, index.EmbeddingVersion);
        Assert.Equal(EmbeddingKeys.Unversioned, await _embeddings.GetActiveVersionAsync(None));
        Assert.Equal(versionBefore, index.Version);
        Assert.Equal(200, index.GetStatus().Vectors);
        Assert.Equal(before.Hits.Select(h => h.ItemId), (await index.SearchAsync(live[3].Vector, 5)).Hits.Select(h => h.ItemId));
        var stored = await _embeddings.GetVersionAsync("v2", None);
        Assert.Equal(EmbeddingVersionState.Rejected, stored!.State);
        Assert.Equal(status.Reason, stored.Reason);
        Assert.Equal(status, index.ActivationOf("v2"));
    }

    [Fact]
    public async Task A_version_without_item_vectors_is_rejected_and_a_rebuild_that_fails_the_check_keeps_the_index()
    {
        var options = Options(shards: 2, dimensions: 32);
        using var index = Manager(options, _store.Garnet.Connection, versioned: true);
        await index.AddAsync(RandomItems(100, 32, seed: 1));
        await StageAsync("empty", [], Tagged("u", 3, 1, seed: 1, dim: 32), dim: 32);

        var status = await index.ActivateAsync("empty");
        Assert.Equal(ActivationState.Rejected, status.State);
        Assert.Contains("no item vectors", status.Reason, StringComparison.Ordinal);
        Assert.Equal(100, index.GetStatus().Vectors);

        // The rebuild goes through the same gate: with recall 1 out of reach it fails and the index stays as it was.
        options.M = 2;
        options.EfSearch = 1;
        options.Activation.MinRecall = 1.0;
        using var weak = Manager(options, _store.Garnet.Connection, versioned: true);
        var items = RandomItems(1500, 32, seed: 2);
        await weak.AddAsync(items);
        weak.EnqueueDeletes(["item00001"]);
        await weak.ApplyPendingAsync();
        var rebuild = await weak.RebuildAsync();
        Assert.Equal(RebuildState.Failed, rebuild.State);
        Assert.StartsWith("Rejected", rebuild.Error, StringComparison.Ordinal);
        Assert.Equal(1, weak.GetStatus().Deleted);
        Assert.Equal(1499, weak.GetStatus().Vectors);
    }

    [Fact]
    public async Task Requests_during_an_activation_never_mix_two_versions()
    {
        var options = Options(shards: 2, dimensions: Dim);
        using var index = Manager(options, _store.Garnet.Connection, versioned: true);
        var users = Enumerable.Range(0, 20).Select(u => $"u{u:D4}").ToArray();
        await StageAsync("v1", Tagged("i", 1500, 1, seed: 1), [.. Tagged("u", 20, 1, seed: 2)]);
        Assert.Equal(ActivationState.Activated, (await index.ActivateAsync("v1")).State);
        await StageAsync("v2", Tagged("i", 1500, -1, seed: 3), [.. Tagged("u", 20, -1, seed: 4)]);

        var activation = index.ActivateAsync("v2");
        var readers = Enumerable.Range(0, 2).Select(r => Task.Run(async () =>
        {
            var random = new Random(r);
            var versions = new HashSet<string>();
            var requests = 0;
            while (!activation.IsCompleted || requests < 20)
            {
                // One request as the collaborative source makes it: one snapshot, the user's embedding under its version,
                // the search and the item vectors through it.
                var snapshot = index.Snapshot();
                var user = await _embeddings.GetAsync(snapshot.EmbeddingVersion, users[random.Next(users.Length)], Dim, None);
                Assert.NotNull(user);
                var userTag = Math.Sign(user[^1]);
                var result = await snapshot.SearchAsync(user, 10);
                Assert.Equal(snapshot.EmbeddingVersion, result.EmbeddingVersion);
                Assert.Equal(10, result.Hits.Count);
                var item = new float[Dim];
                foreach (var hit in result.Hits)
                {
                    Assert.True(snapshot.TryGetVector(hit.ItemId, item));
                    Assert.Equal(userTag, Math.Sign(item[^1]));
                }

                Assert.Equal(snapshot.EmbeddingVersion == "v1" ? 1 : -1, userTag);
                versions.Add(snapshot.EmbeddingVersion);
                requests++;
            }

            return versions;
        })).ToArray();

        Assert.Equal(ActivationState.Activated, (await activation).State);
        var seen = (await Task.WhenAll(readers)).SelectMany(v => v).ToHashSet();
        Assert.Contains("v2", seen);
        Assert.Equal("v2", index.EmbeddingVersion);
    }

    [Fact]
    public void Activation_needs_the_store()
    {
        using var index = Manager(Options());
        Assert.Throws<NotSupportedException>(() => index.StartActivation("v1"));
    }

    [Fact]
    public async Task The_api_stages_activates_reports_and_validates()
    {
        using var dir = new TempDirectory();
        await using var app = await StartAppAsync(_store.Garnet, dir.Path);
        using var client = app.GetTestClient();
        var items = Tagged("p", 120, 1, seed: 6).Select(i => new IndexItemVector(i.Id, i.Vector)).ToList();
        (await client.PutAsJsonAsync("/v1/embeddings/m-1/items", new IndexItemsRequest(items))).EnsureSuccessStatusCode().Dispose();
        (await client.PutAsJsonAsync("/v1/embeddings/m-1/users", new UserEmbeddingsRequest([new UserVector("u1", items[0].Vector)]))).EnsureSuccessStatusCode().Dispose();

        using (var bad = await client.PutAsJsonAsync("/v1/embeddings/bad*name/items", new IndexItemsRequest(items)))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Equal("application/problem+json", bad.Content.Headers.ContentType?.MediaType);
        }

        using (var missing = await client.PostAsync("/v1/embeddings/never/activate", null))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }

        using (var accepted = await client.PostAsync("/v1/embeddings/m-1/activate", null))
        {
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
            Assert.Equal("/v1/embeddings/m-1", accepted.Headers.Location?.OriginalString);
        }

        EmbeddingVersionResponse version;
        do
        {
            await Task.Delay(20);
            version = (await client.GetFromJsonAsync<EmbeddingVersionResponse>("/v1/embeddings/m-1", JsonDefaults.Options))!;
        }
        while (version.Activation?.State == ActivationState.Running);

        Assert.Equal(ActivationState.Activated, version.Activation!.State);
        Assert.True(version.Serving);
        Assert.Equal((EmbeddingVersionState.Active, 120L, 1L), (version.Version.State, version.Version.Items, version.Version.Users));
        var list = (await client.GetFromJsonAsync<EmbeddingVersionsResponse>("/v1/embeddings", JsonDefaults.Options))!;
        Assert.Equal(("m-1", "m-1"), (list.Active, list.Serving));

        // Between publishes, index writes go into the serving version; the serving version cannot be deleted.
        (await client.PutAsJsonAsync("/v1/index/items", new IndexItemsRequest([new IndexItemVector("late", items[1].Vector)]))).EnsureSuccessStatusCode().Dispose();
        Assert.NotNull((await _embeddings.GetItemsAsync("m-1", ["late"], Dim, None))[0]);
        using var delete = await client.DeleteAsync("/v1/embeddings/m-1");
        Assert.Equal(HttpStatusCode.Conflict, delete.StatusCode);
    }
}
