using RecSys.Core.Domain;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.Serving;
using RecSys.FeatureStore.Streaming;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Deletion;

/// <summary>What deleting a user removed. A repeated deletion finds nothing left: every count is 0.</summary>
/// <param name="UserId">The user.</param>
/// <param name="AlreadyDeleted">True when the user was tombstoned before this call.</param>
/// <param name="DeletedAt">When the user was first deleted.</param>
/// <param name="OnlineKeysRemoved">Per-user online keys removed: recent, seen, follows, affinities, feature hashes.</param>
/// <param name="EmbeddingsRemoved">Base and moved (EMA) embedding keys removed, over every embedding version.</param>
/// <param name="EmbeddingVersionsChecked">Embedding versions looked at, the unversioned keys included.</param>
/// <param name="VersionMembershipsRemoved">Per-version user-id sets the user was removed from.</param>
public sealed record UserDeletionResult(
    string UserId,
    bool AlreadyDeleted,
    DateTimeOffset DeletedAt,
    int OnlineKeysRemoved,
    int EmbeddingsRemoved,
    int EmbeddingVersionsChecked,
    int VersionMembershipsRemoved);

/// <summary>
/// Deletes a user: records the tombstone durably first (<see cref="DeletedUsers"/>), then, in one script, adds it to the
/// online store's copy and removes every per-user key of the online store in every embedding version. Because the
/// tombstone is in the store before the keys go, and the stream processor's scripts check it atomically with their writes,
/// an event of the user applied concurrently either landed before (and its keys are removed here) or is refused.
/// The script declares the processor's fence key so that Garnet orders it against the processor's scripts (it serializes
/// scripts on their declared keys only). Offline rows are not rewritten: the tombstone excludes them (training sets drop the
/// user's labels, reads of the log skip the user's events, so exports and backfills leave them out).
/// Aggregates the user contributed to without being named in them (item and creator counters, trending, co-occurrence)
/// are kept: they hold no per-user data.
/// </summary>
public sealed class UserDeletion(IConnectionMultiplexer redis, DeletedUsers deleted, TimeProvider time)
{
    /// <summary>
    /// KEYS: fence (declared for ordering only), deleted users. ARGV: user id, n = count of plain keys, n plain keys, then
    /// m = count of embedding keys, m embedding keys, then per-version user-id sets. Returns { plain keys removed,
    /// embedding keys removed, set memberships removed }.
    /// </summary>
    private const string DeleteScript = """
        redis.call('SADD', KEYS[2], ARGV[1])
        local n = tonumber(ARGV[2])
        local plain = 0
        for i = 3, 2 + n do plain = plain + redis.call('DEL', ARGV[i]) end
        local m = tonumber(ARGV[3 + n])
        local emb = 0
        for i = 4 + n, 3 + n + m do emb = emb + redis.call('DEL', ARGV[i]) end
        local sets = 0
        for i = 4 + n + m, #ARGV do sets = sets + redis.call('SREM', ARGV[i], ARGV[1]) end
        return { plain, emb, sets }
        """;

    /// <summary>The per-user keys of the online store outside the embeddings.</summary>
    public static IReadOnlyList<string> OnlineKeysOf(string userId) =>
    [
        OnlineKeys.UserRecent(userId),
        OnlineKeys.UserSeen(userId),
        OnlineKeys.UserFollows(userId),
        OnlineKeys.UserCreatorAffinity(userId),
        OnlineKeys.UserCategoryAffinity(userId),
        OnlineKeys.Features(EntityKinds.User, userId),
        FeatureFields.UserCategoryWindows(userId),
    ];

    /// <summary>Deletes <paramref name="userId"/>; throws <see cref="ArgumentException"/> for an invalid id.</summary>
    public async Task<UserDeletionResult> DeleteAsync(string userId, CancellationToken cancellationToken)
    {
        if (!EntityIds.IsValid(userId))
        {
            throw new ArgumentException($"'{userId}' is not a valid user id ({EntityIds.Description}).", nameof(userId));
        }

        var added = await deleted.AddAsync(userId, time.GetUtcNow(), cancellationToken);
        var deletedAt = DateTimeOffset.FromUnixTimeMilliseconds(deleted.DeletedAtMs(userId) ?? time.GetUtcNow().ToUnixTimeMilliseconds());
        var db = redis.GetDatabase();
        var result = await OnlineStoreUnavailableException.Guard(
            async () =>
            {
                // Every version listed, the unversioned (legacy ue:/uema:) keys as the implicit one; a version staged after
                // this read does not take the user: EmbeddingStore skips tombstoned users.
                var versions = (await db.SortedSetRangeByRankAsync(EmbeddingKeys.Versions).ConfigureAwait(false))
                    .Select(v => v.ToString())
                    .Where(EmbeddingKeys.IsValidVersion)
                    .Prepend(EmbeddingKeys.Unversioned)
                    .ToList();
                var plain = OnlineKeysOf(userId);
                var embeddings = versions.SelectMany(v => new[] { EmbeddingKeys.User(v, userId), EmbeddingKeys.UserEma(v, userId) }).ToList();
                var sets = versions.Where(v => v.Length > 0).Select(EmbeddingKeys.UserIds).ToList();
                var args = new List<RedisValue>(4 + plain.Count + embeddings.Count + sets.Count) { userId, plain.Count };
                args.AddRange(plain.Select(k => (RedisValue)k));
                args.Add(embeddings.Count);
                args.AddRange(embeddings.Select(k => (RedisValue)k));
                args.AddRange(sets.Select(k => (RedisValue)k));
                var reply = (RedisResult[])(await db.ScriptEvaluateAsync(DeleteScript, [ProcessorKeys.Fence, OnlineKeys.DeletedUsers], [.. args]).ConfigureAwait(false))!;
                return new UserDeletionResult(userId, !added, deletedAt, (int)reply[0], (int)reply[1], versions.Count, (int)reply[2]);
            },
            "user deletion").ConfigureAwait(false);
        return result;
    }
}
