using System.Globalization;
using System.Runtime.CompilerServices;
using RecSys.FeatureStore.Keys;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Serving;

/// <summary>Where a published embedding version stands.</summary>
public enum EmbeddingVersionState
{
    /// <summary>Vectors are being written; not served.</summary>
    Staged = 0,

    /// <summary>The version the active pointer names.</summary>
    Active = 1,

    /// <summary>An activation refused it (the reason says why); the previous version kept serving.</summary>
    Rejected = 2,

    /// <summary>It was active and has been replaced.</summary>
    Retired = 3,
}

/// <summary>One embedding version as the store records it.</summary>
public sealed record EmbeddingVersionInfo(
    string Version,
    int Dimension,
    long Items,
    long Users,
    DateTimeOffset Created,
    EmbeddingVersionState State,
    string? Reason,
    bool IsActive);

/// <summary>
/// Embeddings in the online store (<see cref="EmbeddingBytes"/> form), shared by every replica, kept per version
/// (<see cref="EmbeddingKeys"/>): the users' base embeddings (the daily "embedding_store" of the spec), the items' embeddings
/// (read back in batches by the index rebuild) and, read only, the users' embeddings moved since the base by the stream
/// processor (the spec's incremental EMA update). A publish writes a version's vectors while another serves, then
/// <see cref="ActivateAsync"/> moves the pointer with one SET; a reader resolves the version once per request
/// (<see cref="GetActiveVersionAsync"/>, or the version the vector index serves) and reads everything under it.
/// </summary>
public sealed class EmbeddingStore(IConnectionMultiplexer redis, TimeProvider? time = null)
{
    /// <summary>Keys deleted per command when a version is dropped.</summary>
    public const int DeleteBatch = 1000;

    private static readonly RedisValue[] EmaVectorField = [EmaEmbeddingFields.Vector];

    private static readonly RedisValue[] MetaFields =
    [
        EmbeddingVersionFields.Dimension, EmbeddingVersionFields.CreatedMs, EmbeddingVersionFields.State, EmbeddingVersionFields.Reason,
    ];

    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>The active version; <see cref="EmbeddingKeys.Unversioned"/> until the first activation.</summary>
    public async Task<string> GetActiveVersionAsync(CancellationToken cancellationToken)
    {
        var value = await OnlineStoreUnavailableException.Guard(
            () => redis.GetDatabase().StringGetAsync(EmbeddingKeys.ActivePointer).WaitAsync(cancellationToken), "embedding version");
        return value.IsNullOrEmpty ? EmbeddingKeys.Unversioned : value.ToString();
    }

    /// <summary>
    /// Registers <paramref name="version"/> for staging (idempotent): a new version is <see cref="EmbeddingVersionState.Staged"/>,
    /// a rejected or retired one is staged again, the active one stays active (incremental writes go into it).
    /// </summary>
    /// <exception cref="ArgumentException">An invalid name, or a version that exists with another dimension.</exception>
    public async Task<EmbeddingVersionInfo> CreateVersionAsync(string version, int dimension, CancellationToken cancellationToken)
    {
        ThrowIfInvalid(version);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        var existing = await GetVersionAsync(version, cancellationToken);
        if (existing is not null && existing.Dimension != dimension)
        {
            throw new ArgumentException(
                $"Embedding version '{version}' holds vectors of dimension {existing.Dimension}, not {dimension}.", nameof(dimension));
        }

        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var db = redis.GetDatabase();
        await OnlineStoreUnavailableException.Guard(
            async () =>
            {
                var meta = EmbeddingKeys.Meta(version);
                await db.HashSetAsync(meta, EmbeddingVersionFields.Dimension, dimension, When.NotExists).ConfigureAwait(false);
                await db.HashSetAsync(meta, EmbeddingVersionFields.CreatedMs, now, When.NotExists).ConfigureAwait(false);
                if (existing is null || existing is { IsActive: false, State: not EmbeddingVersionState.Staged })
                {
                    await db.HashSetAsync(meta, [new(EmbeddingVersionFields.State, nameof(EmbeddingVersionState.Staged)), new(EmbeddingVersionFields.Reason, string.Empty), new(EmbeddingVersionFields.ChangedMs, now)]).ConfigureAwait(false);
                }

                await db.SortedSetAddAsync(EmbeddingKeys.Versions, version, now, SortedSetWhen.NotExists).ConfigureAwait(false);
            },
            "embedding version writes");
        return (await GetVersionAsync(version, cancellationToken))!;
    }

    /// <summary>
    /// Stores base user embeddings under <paramref name="version"/>; each restarts the user's moved embedding of that version.
    /// Deleted users (<see cref="OnlineKeys.DeletedUsers"/>) are skipped: a model trained before a deletion does not bring
    /// the user's embedding back.
    /// </summary>
    public async Task SetUsersAsync(string version, IReadOnlyList<(string UserId, float[] Vector)> users, CancellationToken cancellationToken)
    {
        users = await WithoutDeletedUsersAsync(users, cancellationToken).ConfigureAwait(false);
        var batch = redis.GetDatabase().CreateBatch();
        var writes = new List<Task>((users.Count * 2) + 1);
        foreach (var (userId, vector) in users)
        {
            writes.Add(batch.StringSetAsync(EmbeddingKeys.User(version, userId), EmbeddingBytes.ToBytes(vector)));
            writes.Add(batch.KeyDeleteAsync(EmbeddingKeys.UserEma(version, userId)));
        }

        if (version.Length > 0 && users.Count > 0)
        {
            writes.Add(batch.SetAddAsync(EmbeddingKeys.UserIds(version), users.Select(u => (RedisValue)u.UserId).ToArray()));
        }

        await OnlineStoreUnavailableException.Execute(batch, () => Task.WhenAll(writes).WaitAsync(cancellationToken), "embedding writes");
    }

    private async Task<IReadOnlyList<(string UserId, float[] Vector)>> WithoutDeletedUsersAsync(
        IReadOnlyList<(string UserId, float[] Vector)> users, CancellationToken cancellationToken)
    {
        if (users.Count == 0)
        {
            return users;
        }

        var db = redis.GetDatabase();
        var deleted = await OnlineStoreUnavailableException.Guard(
            async () => await db.KeyExistsAsync(OnlineKeys.DeletedUsers).ConfigureAwait(false)
                ? await db.SetContainsAsync(OnlineKeys.DeletedUsers, [.. users.Select(u => (RedisValue)u.UserId)]).WaitAsync(cancellationToken).ConfigureAwait(false)
                : null,
            "deleted users").ConfigureAwait(false);
        if (deleted is null || !deleted.Contains(true))
        {
            return users;
        }

        return [.. users.Where((_, i) => !deleted[i])];
    }

    /// <summary>Stores item embeddings under <paramref name="version"/> (and, for a named version, in its item-id set).</summary>
    public async Task SetItemsAsync(string version, IReadOnlyList<(string ItemId, float[] Vector)> items, CancellationToken cancellationToken)
    {
        var batch = redis.GetDatabase().CreateBatch();
        var writes = new List<Task>(items.Count + 1);
        foreach (var (itemId, vector) in items)
        {
            writes.Add(batch.StringSetAsync(EmbeddingKeys.Item(version, itemId), EmbeddingBytes.ToBytes(vector)));
        }

        if (version.Length > 0 && items.Count > 0)
        {
            writes.Add(batch.SetAddAsync(EmbeddingKeys.ItemIds(version), items.Select(i => (RedisValue)i.ItemId).ToArray()));
        }

        await OnlineStoreUnavailableException.Execute(batch, () => Task.WhenAll(writes).WaitAsync(cancellationToken), "embedding writes");
    }

    public async Task DeleteItemsAsync(string version, IReadOnlyList<string> itemIds, CancellationToken cancellationToken)
    {
        var keys = itemIds.Select(id => (RedisKey)EmbeddingKeys.Item(version, id)).ToArray();
        await OnlineStoreUnavailableException.Guard(
            async () =>
            {
                var db = redis.GetDatabase();
                await db.KeyDeleteAsync(keys).WaitAsync(cancellationToken).ConfigureAwait(false);
                if (version.Length > 0)
                {
                    await db.SetRemoveAsync(EmbeddingKeys.ItemIds(version), itemIds.Select(i => (RedisValue)i).ToArray()).WaitAsync(cancellationToken).ConfigureAwait(false);
                }
            },
            "embedding deletes");
    }

    /// <summary>
    /// The item ids of a named version in batches of about <paramref name="batchSize"/> (SSCAN: an id may come twice when the
    /// set changes meanwhile; callers keep the last).
    /// </summary>
    public async IAsyncEnumerable<IReadOnlyList<string>> ReadItemIdBatchesAsync(
        string version,
        int batchSize,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ThrowIfInvalid(version);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var batch = new List<string>(batchSize);
        await using var scan = redis.GetDatabase().SetScanAsync(EmbeddingKeys.ItemIds(version), pageSize: batchSize).GetAsyncEnumerator(cancellationToken);
        while (await OnlineStoreUnavailableException.Guard(() => scan.MoveNextAsync().AsTask(), "embedding item ids"))
        {
            batch.Add(scan.Current.ToString());
            if (batch.Count == batchSize)
            {
                yield return batch;
                batch = new List<string>(batchSize);
            }
        }

        if (batch.Count > 0)
        {
            yield return batch;
        }
    }

    /// <summary>The items' vectors under <paramref name="version"/> (one MGET), null where absent or not <paramref name="dimension"/> floats.</summary>
    public async Task<float[]?[]> GetItemsAsync(string version, IReadOnlyList<string> itemIds, int dimension, CancellationToken cancellationToken)
    {
        if (itemIds.Count == 0)
        {
            return [];
        }

        var keys = itemIds.Select(id => (RedisKey)EmbeddingKeys.Item(version, id)).ToArray();
        var values = await OnlineStoreUnavailableException.Guard(
            () => redis.GetDatabase().StringGetAsync(keys).WaitAsync(cancellationToken), "item embeddings");
        var vectors = new float[]?[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            vectors[i] = values[i].IsNull ? null : EmbeddingBytes.FromBytes((byte[])values[i]!, dimension);
        }

        return vectors;
    }

    /// <summary>
    /// The user's embedding of <paramref name="dimension"/> under <paramref name="version"/>: the moved one when there is one,
    /// else the base; null when there is neither (or they have another dimension).
    /// </summary>
    public async Task<float[]?> GetAsync(string version, string userId, int dimension, CancellationToken cancellationToken)
    {
        var (moved, stored) = await OnlineStoreUnavailableException.Guard(
            async () =>
            {
                var db = redis.GetDatabase();
                var movedRead = db.HashGetAsync(EmbeddingKeys.UserEma(version, userId), EmaVectorField);
                var storedRead = db.StringGetAsync(EmbeddingKeys.User(version, userId));
                await Task.WhenAll(movedRead, storedRead).WaitAsync(cancellationToken).ConfigureAwait(false);
                return (movedRead.Result[0], storedRead.Result);
            },
            "user embedding");
        if (!moved.IsNull && EmbeddingBytes.FromBytes((byte[])moved!, dimension) is { } vector)
        {
            return vector;
        }

        return stored.IsNull ? null : EmbeddingBytes.FromBytes((byte[])stored!, dimension);
    }

    /// <summary>
    /// Makes <paramref name="version"/> the active one. The switch itself is ONE write (SET of <see cref="EmbeddingKeys.ActivePointer"/>):
    /// a reader sees the old name or the new one, never a mix. The states in the versions' metadata follow (bookkeeping only).
    /// </summary>
    /// <returns>The version that was active before.</returns>
    public async Task<string> ActivateAsync(string version, CancellationToken cancellationToken)
    {
        ThrowIfInvalid(version);
        if (await GetVersionAsync(version, cancellationToken) is null)
        {
            throw new ArgumentException($"Embedding version '{version}' does not exist.", nameof(version));
        }

        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var db = redis.GetDatabase();
        var previous = await OnlineStoreUnavailableException.Guard(
            () => db.StringSetAndGetAsync(EmbeddingKeys.ActivePointer, version).WaitAsync(cancellationToken), "embedding version switch");
        var previousName = previous.IsNullOrEmpty ? EmbeddingKeys.Unversioned : previous.ToString();
        await OnlineStoreUnavailableException.Guard(
            async () =>
            {
                await db.HashSetAsync(EmbeddingKeys.Meta(version), [new(EmbeddingVersionFields.State, nameof(EmbeddingVersionState.Active)), new(EmbeddingVersionFields.Reason, string.Empty), new(EmbeddingVersionFields.ChangedMs, now)]).ConfigureAwait(false);
                if (previousName.Length > 0 && previousName != version)
                {
                    await db.HashSetAsync(EmbeddingKeys.Meta(previousName), [new(EmbeddingVersionFields.State, nameof(EmbeddingVersionState.Retired)), new(EmbeddingVersionFields.ChangedMs, now)]).ConfigureAwait(false);
                }
            },
            "embedding version writes");
        return previousName;
    }

    /// <summary>Records that an activation refused <paramref name="version"/>, and why.</summary>
    public async Task MarkRejectedAsync(string version, string reason, CancellationToken cancellationToken)
    {
        ThrowIfInvalid(version);
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        await OnlineStoreUnavailableException.Guard(
            () => redis.GetDatabase().HashSetAsync(EmbeddingKeys.Meta(version), [new(EmbeddingVersionFields.State, nameof(EmbeddingVersionState.Rejected)), new(EmbeddingVersionFields.Reason, reason), new(EmbeddingVersionFields.ChangedMs, now)]).WaitAsync(cancellationToken),
            "embedding version writes");
    }

    /// <summary>The version's metadata and counts; null when it does not exist.</summary>
    public async Task<EmbeddingVersionInfo?> GetVersionAsync(string version, CancellationToken cancellationToken)
    {
        ThrowIfInvalid(version);
        var db = redis.GetDatabase();
        var (meta, items, users, active) = await OnlineStoreUnavailableException.Guard(
            async () =>
            {
                var metaRead = db.HashGetAsync(EmbeddingKeys.Meta(version), MetaFields);
                var itemsRead = db.SetLengthAsync(EmbeddingKeys.ItemIds(version));
                var usersRead = db.SetLengthAsync(EmbeddingKeys.UserIds(version));
                var activeRead = db.StringGetAsync(EmbeddingKeys.ActivePointer);
                await Task.WhenAll(metaRead, itemsRead, usersRead, activeRead).WaitAsync(cancellationToken).ConfigureAwait(false);
                return (metaRead.Result, itemsRead.Result, usersRead.Result, activeRead.Result);
            },
            "embedding version");
        if (meta[0].IsNull)
        {
            return null;
        }

        var state = Enum.TryParse<EmbeddingVersionState>(meta[2].ToString(), out var s) ? s : EmbeddingVersionState.Staged;
        var created = meta[1].IsNull ? DateTimeOffset.UnixEpoch : DateTimeOffset.FromUnixTimeMilliseconds((long)meta[1]);
        var reason = meta[3].IsNullOrEmpty ? null : meta[3].ToString();
        return new EmbeddingVersionInfo(version, (int)meta[0], items, users, created, state, reason, active == version);
    }

    /// <summary>Every named version, oldest first.</summary>
    public async Task<IReadOnlyList<EmbeddingVersionInfo>> ListVersionsAsync(CancellationToken cancellationToken)
    {
        var names = await OnlineStoreUnavailableException.Guard(
            () => redis.GetDatabase().SortedSetRangeByRankAsync(EmbeddingKeys.Versions).WaitAsync(cancellationToken), "embedding versions");
        var list = new List<EmbeddingVersionInfo>(names.Length);
        foreach (var name in names)
        {
            if (await GetVersionAsync(name.ToString(), cancellationToken) is { } info)
            {
                list.Add(info);
            }
        }

        return list;
    }

    /// <summary>
    /// Deletes every key of a named version, <see cref="DeleteBatch"/> keys per command (found by SCAN of its prefix, so moved
    /// user embeddings go too). The active version is never deleted.
    /// </summary>
    /// <returns>How many keys were deleted.</returns>
    /// <exception cref="InvalidOperationException">The version is the active one.</exception>
    public async Task<long> DeleteVersionAsync(string version, CancellationToken cancellationToken)
    {
        ThrowIfInvalid(version);
        var db = redis.GetDatabase();
        if (await GetActiveVersionAsync(cancellationToken) == version)
        {
            throw new InvalidOperationException($"Embedding version '{version}' is active; activate another one before deleting it.");
        }

        // Out of the list first: a version half deleted is never offered again.
        await OnlineStoreUnavailableException.Guard(() => db.SortedSetRemoveAsync(EmbeddingKeys.Versions, version).WaitAsync(cancellationToken), "embedding version deletes");
        long deleted = 0;
        var pattern = EmbeddingKeys.Prefix(version) + "*";
        foreach (var server in redis.GetServers().Where(s => s.IsConnected && !s.IsReplica))
        {
            var batch = new List<RedisKey>(DeleteBatch);
            await foreach (var key in server.KeysAsync(db.Database, pattern, DeleteBatch).WithCancellation(cancellationToken))
            {
                batch.Add(key);
                if (batch.Count == DeleteBatch)
                {
                    deleted += await DeleteKeysAsync(db, batch, cancellationToken);
                    batch.Clear();
                }
            }

            if (batch.Count > 0)
            {
                deleted += await DeleteKeysAsync(db, batch, cancellationToken);
            }
        }

        return deleted;
    }

    /// <summary>Keeps the <paramref name="keep"/> newest versions and the active one; deletes the others. Returns the deleted names.</summary>
    public async Task<IReadOnlyList<string>> PruneAsync(int keep, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(keep, 1);
        var active = await GetActiveVersionAsync(cancellationToken);
        var versions = await ListVersionsAsync(cancellationToken);
        var deleted = new List<string>();
        foreach (var old in versions.OrderByDescending(v => v.Created).ThenByDescending(v => v.Version, StringComparer.Ordinal).Skip(keep))
        {
            if (old.Version != active)
            {
                await DeleteVersionAsync(old.Version, cancellationToken);
                deleted.Add(old.Version);
            }
        }

        return deleted;
    }

    private static void ThrowIfInvalid(string version)
    {
        if (!EmbeddingKeys.IsValidVersion(version))
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"Not a valid embedding version name: {EmbeddingKeys.VersionDescription}."), nameof(version));
        }
    }

    private static Task<long> DeleteKeysAsync(IDatabase db, List<RedisKey> keys, CancellationToken cancellationToken) =>
        OnlineStoreUnavailableException.Guard(() => db.KeyDeleteAsync([.. keys]).WaitAsync(cancellationToken), "embedding version deletes");
}
