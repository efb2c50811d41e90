using RecSys.Core.Domain;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.Serving;
using RecSys.FeatureStore.Streaming;
using RecSys.FeatureStore.Tests.OnlineStores;
using RecSys.TestSupport;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Tests.Serving;

/// <summary>
/// Versioned embeddings (<see cref="EmbeddingStore"/>, <see cref="EmbeddingKeys"/>) on a Redis-protocol server: staging,
/// the one-write switch, readers that resolve the version once, retention, and the stream processor's moved embeddings
/// under the active version. Concrete classes give the server: Garnet, redis-server.
/// </summary>
public abstract class EmbeddingVersionsContract
{
    private static readonly DateTimeOffset Now = new(2026, 11, 20, 12, 0, 0, TimeSpan.Zero);
    private static readonly CancellationToken None = CancellationToken.None;

    private readonly IConnectionMultiplexer _redis;

    protected EmbeddingVersionsContract(IConnectionMultiplexer redis, Action flush)
    {
        _redis = redis;
        flush();
    }

    private EmbeddingStore Store => new(_redis);

    /// <summary>A vector whose every component is <paramref name="tag"/> (the version a reader got it from is readable off it).</summary>
    private static float[] Tagged(float tag, int dimension = 4) => [.. Enumerable.Repeat(tag, dimension)];

    private async Task StageAsync(string version, float tag, int users, int items)
    {
        await Store.CreateVersionAsync(version, 4, None);
        await Store.SetUsersAsync(version, [.. Enumerable.Range(0, users).Select(u => ($"u{u}", Tagged(tag)))], None);
        await Store.SetItemsAsync(version, [.. Enumerable.Range(0, items).Select(i => ($"i{i}", Tagged(tag)))], None);
    }

    [StoreFact]
    public async Task The_unversioned_keys_serve_until_the_first_activation_and_a_staged_version_is_not_served_before_it()
    {
        await Store.SetUsersAsync(EmbeddingKeys.Unversioned, [("u0", Tagged(1))], None);
        await StageAsync("v2", 2, users: 1, items: 1);

        var active = await Store.GetActiveVersionAsync(None);
        Assert.Equal(EmbeddingKeys.Unversioned, active);
        Assert.Equal(Tagged(1), await Store.GetAsync(active, "u0", 4, None));
        var staged = await Store.GetVersionAsync("v2", None);
        Assert.Equal(new EmbeddingVersionInfo("v2", 4, 1, 1, staged!.Created, EmbeddingVersionState.Staged, null, false), staged);

        Assert.Equal(EmbeddingKeys.Unversioned, await Store.ActivateAsync("v2", None));
        active = await Store.GetActiveVersionAsync(None);
        Assert.Equal("v2", active);
        Assert.Equal(Tagged(2), await Store.GetAsync(active, "u0", 4, None));
        Assert.Equal(Tagged(2), (await Store.GetItemsAsync(active, ["i0", "missing"], 4, None))[0]);
        Assert.Null((await Store.GetItemsAsync(active, ["i0", "missing"], 4, None))[1]);
        Assert.Equal(EmbeddingVersionState.Active, (await Store.GetVersionAsync("v2", None))!.State);

        // The switch is the pointer alone: setting it back by hand serves the old keys again, nothing else moved.
        await _redis.GetDatabase().KeyDeleteAsync(EmbeddingKeys.ActivePointer);
        Assert.Equal(Tagged(1), await Store.GetAsync(await Store.GetActiveVersionAsync(None), "u0", 4, None));
    }

    [StoreFact]
    public async Task Readers_hammering_during_a_publish_never_see_two_versions_in_one_request()
    {
        const int Users = 50, Items = 200;
        await StageAsync("v1", 1, Users, Items);
        await Store.ActivateAsync("v1", None);

        using var stop = new CancellationTokenSource();
        var seen = new HashSet<string>[4];
        var readers = Enumerable.Range(0, seen.Length).Select(r => Task.Run(async () =>
        {
            seen[r] = [];
            var rng = new Random(r);
            var reads = 0;
            while (!stop.IsCancellationRequested || reads < 20)
            {
                // One request: the version resolved once, the user's and a few items' vectors read under it.
                var version = await Store.GetActiveVersionAsync(None);
                var user = await Store.GetAsync(version, $"u{rng.Next(Users)}", 4, None);
                var items = await Store.GetItemsAsync(version, [.. Enumerable.Range(0, 5).Select(_ => $"i{rng.Next(Items)}")], 4, None);
                var tags = items.Select(v => v![0]).Append(user![0]).Distinct().ToList();
                Assert.Single(tags);
                Assert.Equal(version == "v1" ? 1f : 2f, tags[0]);
                seen[r].Add(version);
                reads++;
            }
        })).ToList();

        // The publish: v2 staged in batches while v1 serves, then one switch.
        await Store.CreateVersionAsync("v2", 4, None);
        foreach (var chunk in Enumerable.Range(0, Items).Chunk(40))
        {
            await Store.SetItemsAsync("v2", [.. chunk.Select(i => ($"i{i}", Tagged(2)))], None);
        }

        await Store.SetUsersAsync("v2", [.. Enumerable.Range(0, Users).Select(u => ($"u{u}", Tagged(2)))], None);
        await Store.ActivateAsync("v2", None);
        await Task.Delay(50);
        await stop.CancelAsync();
        await Task.WhenAll(readers);

        Assert.Contains(seen, s => s.Contains("v2"));
        Assert.Equal("v2", await Store.GetActiveVersionAsync(None));
        Assert.Equal(EmbeddingVersionState.Retired, (await Store.GetVersionAsync("v1", None))!.State);
    }

    [StoreFact]
    public async Task Retention_deletes_old_versions_with_all_their_keys_but_never_the_active_one()
    {
        var time = new ManualTime(Now);
        var store = new EmbeddingStore(_redis, time);
        foreach (var (version, tag) in new[] { ("v1", 1f), ("v2", 2f), ("v3", 3f) })
        {
            await store.CreateVersionAsync(version, 4, None);
            await store.SetUsersAsync(version, [("u0", Tagged(tag))], None);
            await store.SetItemsAsync(version, [("i0", Tagged(tag)), ("i1", Tagged(tag))], None);
            time.Advance(TimeSpan.FromMinutes(1));
        }

        // v1 active and moved by an event; v3 newest.
        await store.ActivateAsync("v1", None);
        await ApplyAsync([TestData.Event("e1", "u0", "i1", EventType.Click, Now)]);
        Assert.True(await _redis.GetDatabase().KeyExistsAsync(EmbeddingKeys.UserEma("v1", "u0")));

        await Assert.ThrowsAsync<InvalidOperationException>(() => store.DeleteVersionAsync("v1", None));
        Assert.Equal(["v2"], await store.PruneAsync(keep: 1, None));
        Assert.Equal(["v1", "v3"], (await store.ListVersionsAsync(None)).Select(v => v.Version));
        Assert.Null(await store.GetVersionAsync("v2", None));
        Assert.Null(await store.GetAsync("v2", "u0", 4, None));
        Assert.All(await store.GetItemsAsync("v2", ["i0", "i1"], 4, None), Assert.Null);
        Assert.Equal(Tagged(1).Length, (await store.GetAsync("v1", "u0", 4, None))!.Length);

        // Once v3 is active, v1 may go too, its moved embedding with it.
        await store.ActivateAsync("v3", None);
        Assert.True(await store.DeleteVersionAsync("v1", None) >= 5);
        Assert.False(await _redis.GetDatabase().KeyExistsAsync(EmbeddingKeys.UserEma("v1", "u0")));
        Assert.Equal(["v3"], (await store.ListVersionsAsync(None)).Select(v => v.Version));
    }

    [StoreFact]
    public async Task The_stream_processor_moves_users_under_the_active_version_and_a_switch_restarts_from_the_new_base()
    {
        float[] i1v1 = [0, 1, 0, 0], i1v2 = [0, 0, 0, 1];
        await Store.CreateVersionAsync("v1", 4, None);
        await Store.SetUsersAsync("v1", [("u0", [1, 0, 0, 0])], None);
        await Store.SetItemsAsync("v1", [("i1", i1v1)], None);
        await Store.CreateVersionAsync("v2", 4, None);
        await Store.SetUsersAsync("v2", [("u0", [0, 0, 1, 0])], None);
        await Store.SetItemsAsync("v2", [("i1", i1v2)], None);
        await Store.ActivateAsync("v1", None);

        await ApplyAsync([TestData.Event("e1", "u0", "i1", EventType.Click, Now)]);
        AssertClose([0.9f, 0.1f, 0, 0], await Store.GetAsync("v1", "u0", 4, None));
        AssertClose([0, 0, 1, 0], await Store.GetAsync("v2", "u0", 4, None));

        await Store.ActivateAsync("v2", None);
        await ApplyAsync([TestData.Event("e2", "u0", "i1", EventType.Click, Now.AddMinutes(1))]);
        AssertClose([0, 0, 0.9f, 0.1f], await Store.GetAsync("v2", "u0", 4, None));
        AssertClose([0.9f, 0.1f, 0, 0], await Store.GetAsync("v1", "u0", 4, None));
    }

    [StoreFact]
    public async Task Bad_names_and_dimensions_are_refused_and_a_rejected_version_can_be_staged_again()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => Store.CreateVersionAsync("a*b", 4, None));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.CreateVersionAsync(new string('x', 65), 4, None));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.ActivateAsync("never-created", None));
        await Store.CreateVersionAsync("v1", 4, None);
        await Assert.ThrowsAsync<ArgumentException>(() => Store.CreateVersionAsync("v1", 8, None));

        await Store.MarkRejectedAsync("v1", "recall 0.5 < 0.95", None);
        var rejected = await Store.GetVersionAsync("v1", None);
        Assert.Equal((EmbeddingVersionState.Rejected, "recall 0.5 < 0.95"), (rejected!.State, rejected.Reason));
        Assert.Equal(EmbeddingVersionState.Staged, (await Store.CreateVersionAsync("v1", 4, None)).State);
    }

    [StoreFact]
    public async Task Item_ids_are_read_back_in_batches()
    {
        await Store.CreateVersionAsync("v1", 4, None);
        var ids = Enumerable.Range(0, 2500).Select(i => $"i{i}").ToList();
        foreach (var chunk in ids.Chunk(1000))
        {
            await Store.SetItemsAsync("v1", [.. chunk.Select(i => (i, Tagged(1)))], None);
        }

        await Store.DeleteItemsAsync("v1", ["i7"], None);
        var read = new HashSet<string>();
        await foreach (var batch in Store.ReadItemIdBatchesAsync("v1", 1000, None))
        {
            Assert.InRange(batch.Count, 1, 1000);
            read.UnionWith(batch);
        }

        Assert.Equal(ids.Where(i => i != "i7").ToHashSet(), read);
    }

    private async Task ApplyAsync(IEnumerable<LogRecord> records)
    {
        var applier = new OnlineApplier(_redis, Infrastructure.Metrics());
        await applier.InitializeAsync();
        await applier.ApplyEffectsAsync(TestData.Entries(records));
    }

    private static void AssertClose(float[] expected, float[]? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Length, actual.Length);
        for (var d = 0; d < expected.Length; d++)
        {
            Assert.Equal(expected[d], actual[d], 5);
        }
    }
}

/// <summary>The versioned embeddings' contract against Garnet, in-process.</summary>
public sealed class GarnetEmbeddingVersionsTests(EmbeddedGarnet garnet)
    : EmbeddingVersionsContract(garnet.Connection, garnet.Flush), IClassFixture<EmbeddedGarnet>;

/// <summary>The versioned embeddings' contract against redis-server; reported skipped, with the reason, when it is missing.</summary>
[RequiresRedisServer]
public sealed class RedisEmbeddingVersionsTests(RedisServerFixture redis)
    : EmbeddingVersionsContract(redis.Server.Connection, redis.Server.Flush), IClassFixture<RedisServerFixture>;
