using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Deletion;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.OfflineStore;
using RecSys.FeatureStore.Serving;
using RecSys.FeatureStore.Streaming;
using RecSys.FeatureStore.Telemetry;
using RecSys.TestSupport;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Tests.Deletion;

public sealed class UserDeletionTests(EmbeddedGarnet garnet) : IClassFixture<EmbeddedGarnet>, IDisposable
{
    private readonly OfflineKit _kit = new();
    private readonly IDatabase _db = garnet.Connection.GetDatabase();

    public void Dispose() => _kit.Dispose();

    private DeletedUsers Tombstones() => new(Path.Combine(_kit.Root, "data"));

    private UserDeletion Deletion(DeletedUsers tombstones) => new(garnet.Connection, tombstones, TimeProvider.System);

    /// <summary>Every key the online store may hold for the user, embeddings of <paramref name="versions"/> included.</summary>
    private static List<string> UserKeys(string user, params string[] versions) =>
    [
        .. UserDeletion.OnlineKeysOf(user),
        .. versions.Prepend(EmbeddingKeys.Unversioned).SelectMany(v => new[] { EmbeddingKeys.User(v, user), EmbeddingKeys.UserEma(v, user) }),
    ];

    private async Task<List<string>> ExistingAsync(IEnumerable<string> keys)
    {
        var existing = new List<string>();
        foreach (var key in keys)
        {
            if (await _db.KeyExistsAsync(key))
            {
                existing.Add(key);
            }
        }

        return existing;
    }

    /// <summary>Items, events of u1 and u2 (follows, likes, views) and embeddings in the unversioned keys and two versions.</summary>
    private async Task<OnlineApplier> SeedAsync()
    {
        garnet.Flush();
        var applier = Infrastructure.Applier(garnet);
        await applier.InitializeAsync();
        var embeddings = new EmbeddingStore(garnet.Connection);
        await embeddings.SetItemsAsync(EmbeddingKeys.Unversioned, [("i1", [1f, 0f]), ("i2", [0f, 1f])], CancellationToken.None);
        var records = new List<LogRecord>
        {
            TestData.Item("i1", "c1", ["news"]),
            TestData.Item("i2", "c2", ["tech"]),
        };
        foreach (var user in new[] { "u1", "u2" })
        {
            records.Add(TestData.Event($"{user}-e1", user, "i1", EventType.Like, TestData.T0));
            records.Add(TestData.Event($"{user}-e2", user, "i2", EventType.View, TestData.T0.AddMinutes(1)));
            records.Add(TestData.Event($"{user}-e3", user, null, EventType.Follow, TestData.T0.AddMinutes(2), creator: "c9"));
        }

        Assert.True((await applier.ApplyAsync(TestData.Entries(records), LogPosition.Start, records.Count)).Committed);
        await embeddings.SetUsersAsync(EmbeddingKeys.Unversioned, [("u1", [1f, 1f]), ("u2", [1f, 1f])], CancellationToken.None);
        foreach (var version in new[] { "v1", "v2" })
        {
            await embeddings.CreateVersionAsync(version, 2, CancellationToken.None);
            await embeddings.SetUsersAsync(version, [("u1", [0.5f, 0.5f]), ("u2", [0.5f, 0.5f])], CancellationToken.None);
            await _db.HashSetAsync(EmbeddingKeys.UserEma(version, "u1"), EmaEmbeddingFields.Vector, EmbeddingBytes.ToBytes([0.6f, 0.4f]));
        }

        return applier;
    }

    [Fact]
    public async Task Deleting_removes_the_users_online_state_and_embeddings_in_every_version_and_nothing_of_others()
    {
        await SeedAsync();
        var u2Before = await ExistingAsync(UserKeys("u2", "v1", "v2"));
        Assert.Equal(UserDeletion.OnlineKeysOf("u1").Count, (await ExistingAsync(UserDeletion.OnlineKeysOf("u1"))).Count);

        var result = await Deletion(Tombstones()).DeleteAsync("u1", CancellationToken.None);

        Assert.False(result.AlreadyDeleted);
        Assert.Equal(UserDeletion.OnlineKeysOf("u1").Count, result.OnlineKeysRemoved);
        // Base vectors in the unversioned keys, v1 and v2, and the EMA hashes of v1 and v2 (storing the unversioned base
        // restarted the unversioned EMA).
        Assert.Equal(5, result.EmbeddingsRemoved);
        Assert.Equal(3, result.EmbeddingVersionsChecked);
        Assert.Equal(2, result.VersionMembershipsRemoved);
        Assert.Empty(await ExistingAsync(UserKeys("u1", "v1", "v2")));
        Assert.False(await _db.SetContainsAsync(EmbeddingKeys.UserIds("v1"), "u1"));
        Assert.True(await _db.SetContainsAsync(EmbeddingKeys.UserIds("v1"), "u2"));
        Assert.True(await _db.SetContainsAsync(OnlineKeys.DeletedUsers, "u1"));
        Assert.Null(await new EmbeddingStore(garnet.Connection).GetAsync("v2", "u1", 2, CancellationToken.None));
        Assert.Equal(u2Before, await ExistingAsync(UserKeys("u2", "v1", "v2")));

        var again = await Deletion(Tombstones()).DeleteAsync("u1", CancellationToken.None);
        Assert.True(again.AlreadyDeleted);
        Assert.Equal(result.DeletedAt, again.DeletedAt);
        Assert.Equal((0, 0, 0), (again.OnlineKeysRemoved, again.EmbeddingsRemoved, again.VersionMembershipsRemoved));
    }

    [Fact]
    public async Task An_invalid_user_id_is_refused_before_anything_is_written()
    {
        garnet.Flush();
        var tombstones = Tombstones();
        var error = await Assert.ThrowsAsync<ArgumentException>(() => Deletion(tombstones).DeleteAsync("u 1:*", CancellationToken.None));
        Assert.Contains("not a valid user id", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, tombstones.Count);
        Assert.False(await _db.KeyExistsAsync(OnlineKeys.DeletedUsers));
    }

    [Fact]
    public async Task A_model_published_after_the_deletion_does_not_bring_the_users_embedding_back()
    {
        await SeedAsync();
        await Deletion(Tombstones()).DeleteAsync("u1", CancellationToken.None);
        var embeddings = new EmbeddingStore(garnet.Connection);
        await embeddings.CreateVersionAsync("v3", 2, CancellationToken.None);
        await embeddings.SetUsersAsync("v3", [("u1", [1f, 0f]), ("u2", [0f, 1f])], CancellationToken.None);

        Assert.Null(await embeddings.GetAsync("v3", "u1", 2, CancellationToken.None));
        Assert.NotNull(await embeddings.GetAsync("v3", "u2", 2, CancellationToken.None));
        Assert.Equal(["u2"], (await _db.SetMembersAsync(EmbeddingKeys.UserIds("v3"))).Select(v => v.ToString()));
    }

    [Fact]
    public async Task An_event_of_a_deleted_user_in_a_batch_read_before_the_deletion_is_not_applied()
    {
        var applier = await SeedAsync();
        await Deletion(Tombstones()).DeleteAsync("u1", CancellationToken.None);

        // The processor read this batch before the deletion (unfiltered): the scripts still refuse u1's events.
        var late = new List<LogRecord>
        {
            TestData.Event("u1-e4", "u1", "i1", EventType.Like, TestData.T0.AddMinutes(5)),
            TestData.Event("u1-e5", "u1", null, EventType.Follow, TestData.T0.AddMinutes(5), creator: "c8"),
            TestData.Event("u2-e4", "u2", "i2", EventType.Like, TestData.T0.AddMinutes(5)),
        };
        var position = await applier.ReadPositionAsync();
        var result = await applier.ApplyAsync(
            [.. late.Select((r, i) => new LogEntry(position.Ordinal + i, position.Ordinal + i + 1, r))], position, position.Ordinal + late.Count);

        Assert.True(result.Committed);
        Assert.Equal(1, result.EventsApplied);
        Assert.Equal(0, result.Duplicates);
        Assert.Empty(await ExistingAsync(UserKeys("u1", "v1", "v2")));
        Assert.False(await _db.KeyExistsAsync(OnlineKeys.AppliedEvent("u1-e4")));
        Assert.Equal(2, (long)await _db.HashGetAsync(ProcessorKeys.Stats, ProcessorKeys.DeletedUserSkipped));
        Assert.NotNull(await _db.SortedSetScoreAsync(OnlineKeys.UserRecent("u2"), "i2"));
        Assert.True(await _db.KeyExistsAsync(EmbeddingKeys.UserEma(EmbeddingKeys.Unversioned, "u2")));
    }

    [Fact]
    public async Task The_stream_processor_does_not_recreate_state_for_events_logged_after_the_deletion()
    {
        garnet.Flush();
        var tombstones = Tombstones();
        using var inner = _kit.OpenLog();
        var log = new DeletedUserFilteringEventLog(inner, tombstones);
        await log.AppendAsync([TestData.Item("i1", "c1", ["news"]), TestData.Event("u1-e1", "u1", "i1", EventType.Like, TestData.T0)], CancellationToken.None);
        await Deletion(tombstones).DeleteAsync("u1", CancellationToken.None);
        await log.AppendAsync(
            [TestData.Event("u1-e2", "u1", "i1", EventType.Click, TestData.T0.AddMinutes(1)), TestData.Event("u2-e1", "u2", "i1", EventType.Like, TestData.T0.AddMinutes(1))],
            CancellationToken.None);

        var metrics = Infrastructure.Metrics();
        var state = new ProcessorState();
        using var processor = new StreamProcessor(
            log, new OnlineApplier(garnet.Connection, metrics), state, metrics, Options.Create(new FeatureStoreOptions()), TimeProvider.System, NullLogger<StreamProcessor>.Instance);
        await processor.StartAsync(CancellationToken.None);
        var tail = log.TailPosition;
        for (var i = 0; i < 200 && state.Position < tail; i++)
        {
            await Task.Delay(50);
        }

        await processor.StopAsync(CancellationToken.None);
        Assert.Equal(tail, state.Position);
        Assert.Empty(await ExistingAsync(UserKeys("u1")));
        Assert.NotNull(await _db.SortedSetScoreAsync(OnlineKeys.UserRecent("u2"), "i1"));
        Assert.Equal(1, (long)await _db.HashGetAsync(ProcessorKeys.Stats, ProcessorKeys.EventsApplied));
    }

    [Fact]
    public async Task The_export_and_the_backfill_leave_out_every_event_of_a_deleted_user_logged_before_or_after()
    {
        var tombstones = Tombstones();
        using var inner = _kit.OpenLog();
        var log = new DeletedUserFilteringEventLog(inner, tombstones);
        await log.AppendAsync(
            [TestData.Item("i1", "c1", ["news"]), TestData.Event("u1-e1", "u1", "i1", EventType.Click, TestData.T0), TestData.Event("u2-e1", "u2", "i1", EventType.Click, TestData.T0)],
            CancellationToken.None);
        await tombstones.AddAsync("u1", TestData.T0, CancellationToken.None);
        await log.AppendAsync([TestData.Event("u1-e2", "u1", "i1", EventType.Click, TestData.T0.AddMinutes(1))], CancellationToken.None);

        var end = await log.GetEndPositionAsync(CancellationToken.None);
        var exported = new List<string>();
        await foreach (var e in EventLogExport.EventsAsync(log, end, ExportWindow.All))
        {
            exported.Add(e.EventId);
        }

        Assert.Equal(["u2-e1"], exported);

        var backfill = await new BackfillProcessor(log, _kit.Store, OfflineKit.Plan).RunAsync(null, CancellationToken.None);
        Assert.Equal(1, backfill.EventsRead);
        var users = await OfflineKit.QueryAsync(
            $"SELECT DISTINCT entity_id FROM {OfflineLayout.ReadParquetSql(_kit.Store.Directory)} WHERE entity_kind = '{EntityKinds.User}'");
        Assert.Equal(["u2"], users.Select(r => (string)r[0]!));
    }

    [Fact]
    public async Task A_training_set_leaves_out_the_labels_and_rows_of_deleted_users()
    {
        var t = OfflineKit.Ms(TestData.T0);
        await _kit.Store.WriteAsync(
            [OfflineKit.UserRow("u1", "user_clicks_total", 5, t - 1000), OfflineKit.UserRow("u2", "user_clicks_total", 7, t - 1000)],
            CancellationToken.None);
        var tombstones = Tombstones();
        await tombstones.AddAsync("u1", TestData.T0, CancellationToken.None);
        var builder = new TrainingSetBuilder(_kit.Store, tombstones);
        var output = Path.Combine(_kit.Root, "set.parquet");

        var stats = await builder.BuildAsync(
            [new LabelRow("u1", null, null, t, 1), new LabelRow("u2", null, null, t, 0), new LabelRow("u1", "i1", null, t, 1)],
            [OfflineKit.Feature("user_clicks_total")],
            output,
            CancellationToken.None);

        Assert.Equal(1, stats.Labels);
        Assert.Equal(2, stats.LabelsOfDeletedUsers);
        var rows = await OfflineKit.QueryAsync($"SELECT label_index, user_id, user_clicks_total FROM read_parquet({OfflineKit.Sql(output)})");
        Assert.Equal([1L], rows.Select(r => r[0]));
        Assert.Equal([7.0], rows.Select(r => r[2]));

        // Only deleted users' labels: an empty training set, not an error.
        var empty = Path.Combine(_kit.Root, "empty.parquet");
        var none = await builder.BuildAsync([new LabelRow("u1", null, null, t, 1)], [OfflineKit.Feature("user_clicks_total")], empty, CancellationToken.None);
        Assert.Equal(0, none.Labels);
        Assert.Empty(await OfflineKit.QueryAsync($"SELECT * FROM read_parquet({OfflineKit.Sql(empty)})"));
    }

    [Fact]
    public async Task The_tombstone_list_survives_a_restart_drops_a_torn_last_line_and_refuses_a_corrupt_one()
    {
        var directory = Path.Combine(_kit.Root, "data");
        var first = new DeletedUsers(directory);
        Assert.True(await first.AddAsync("u1", TestData.T0, CancellationToken.None));
        Assert.False(await first.AddAsync("u1", TestData.T0.AddDays(1), CancellationToken.None));

        // A crash in the middle of the next append: the line has no newline.
        await File.AppendAllTextAsync(first.FilePath, "u2\t17");
        var reopened = new DeletedUsers(directory);
        Assert.True(reopened.Contains("u1"));
        Assert.False(reopened.Contains("u2"));
        Assert.Equal(OfflineKit.Ms(TestData.T0), reopened.DeletedAtMs("u1"));
        Assert.True(await reopened.AddAsync("u3", TestData.T0, CancellationToken.None));
        Assert.Equal(["u1", "u3"], new DeletedUsers(directory).UserIds.Order());

        await File.AppendAllTextAsync(first.FilePath, "not a line\n");
        var error = Assert.Throws<InvalidDataException>(() => new DeletedUsers(directory));
        Assert.Contains("line 3", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_sync_deletes_again_in_a_store_that_lost_the_tombstones_and_learns_those_of_other_instances()
    {
        await SeedAsync();
        var tombstones = Tombstones();
        await tombstones.AddAsync("u1", TestData.T0, CancellationToken.None);
        await _db.SetAddAsync(OnlineKeys.DeletedUsers, "u9");
        var sync = new DeletedUsersSync(tombstones, Deletion(tombstones), garnet.Connection, TimeProvider.System, NullLogger<DeletedUsersSync>.Instance);

        Assert.Equal((1, 1), await sync.SyncAsync(CancellationToken.None));
        Assert.Empty(await ExistingAsync(UserKeys("u1", "v1", "v2")));
        Assert.True(await _db.SetContainsAsync(OnlineKeys.DeletedUsers, "u1"));
        Assert.True(new DeletedUsers(Path.Combine(_kit.Root, "data")).Contains("u9"));
        Assert.Equal((0, 0), await sync.SyncAsync(CancellationToken.None));
    }
}
