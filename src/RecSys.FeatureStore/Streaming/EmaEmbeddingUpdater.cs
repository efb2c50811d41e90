using System.Globalization;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.Registry;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Streaming;

/// <summary>
/// Keeps <see cref="OnlineKeys.UserEmbeddingEma"/> (the <see cref="EmaEmbeddingTransform"/>): for a batch of log records,
/// reads the users' current vectors (else their base embeddings) and the engaged items' embeddings in one round trip,
/// folds the users' new events in event-time order and writes each changed vector back with a compare-and-set on its
/// version. Runs before the batch's other effects; the version (event time, event id) makes it idempotent, so a batch
/// redelivered after a crash changes nothing twice. Everything is read and written under the active embedding version
/// (<see cref="EmbeddingKeys.ActivePointer"/>, read once per batch): after a switch the moved vectors of the new version start
/// from its base, and a batch that raced the switch only wrote into the old version, which nothing serves any more.
/// </summary>
internal sealed class EmaEmbeddingUpdater(IDatabase db, double alpha)
{
    /// <summary>How often a user whose vector moved under us (a new base embedding) is read again within one batch.</summary>
    private const int Attempts = 3;

    private static readonly RedisValue[] StateFields = [EmaEmbeddingFields.Vector, EmaEmbeddingFields.EventTimeMs, EmaEmbeddingFields.EventId];

    /// <summary>Folds the entries' engagements in; returns how many users' vectors were written.</summary>
    public async Task<int> UpdateAsync(IReadOnlyList<LogEntry> entries, byte[] script, string token, Action<long> throwIfFenced)
    {
        var byUser = new Dictionary<string, List<InteractionEvent>>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            if (entry.Record is EventRecord { Event: { ItemId: not null } e } && EventTypes.EngagementWeight(e.Type, e.Value) > 0)
            {
                if (!byUser.TryGetValue(e.UserId, out var list))
                {
                    byUser[e.UserId] = list = [];
                }

                list.Add(e);
            }
        }

        if (byUser.Count == 0)
        {
            return 0;
        }

        var active = await db.StringGetAsync(EmbeddingKeys.ActivePointer);
        var embeddingVersion = active.IsNullOrEmpty ? EmbeddingKeys.Unversioned : active.ToString();

        // Items first: events on items without an embedding move nothing, and a batch with none costs one round trip.
        var items = byUser.Values.SelectMany(l => l).Select(e => e.ItemId!).Distinct(StringComparer.Ordinal).ToList();
        var itemVectors = await ReadItemsAsync(embeddingVersion, items);
        foreach (var (user, list) in byUser)
        {
            list.RemoveAll(e => !itemVectors.ContainsKey(e.ItemId!));
            if (list.Count == 0)
            {
                byUser.Remove(user);
                continue;
            }

            list.Sort(static (a, b) => Compare(Version(a), Version(b)));
        }

        if (byUser.Count == 0)
        {
            return 0;
        }
        var written = 0;
        var users = byUser.Keys.ToList();
        for (var attempt = 0; attempt < Attempts && users.Count > 0; attempt++)
        {
            // Plain async calls, not an IBatch: the multiplexer pipelines them all the same, and on a closed connection they
            // fail at once instead of waiting in an unsent batch.
            var states = users.Select(u => (User: u, State: db.HashGetAsync(EmbeddingKeys.UserEma(embeddingVersion, u), StateFields), Base: db.StringGetAsync(EmbeddingKeys.User(embeddingVersion, u)))).ToList();
            await Task.WhenAll(states.SelectMany(s => new Task[] { s.State, s.Base }));

            var writes = new List<(string User, Task<RedisResult> Result)>();
            foreach (var (user, stateTask, baseTask) in states)
            {
                var state = stateTask.Result;
                (long T, string Id)? version = state[1].IsNull ? null : ((long)state[1], state[2].ToString());
                var current = version is null
                    ? (baseTask.Result.IsNull ? null : EmbeddingBytes.FromBytes((byte[])baseTask.Result!))
                    : EmbeddingBytes.FromBytes((byte[])state[0]!);
                var moved = Fold(current, version, byUser[user], itemVectors, out var last);
                if (moved is null)
                {
                    continue;
                }

                var expected = version is { } v ? string.Create(CultureInfo.InvariantCulture, $"{v.T}/{v.Id}") : string.Empty;
                writes.Add((user, db.ScriptEvaluateAsync(
                    script,
                    [EmbeddingKeys.UserEma(embeddingVersion, user), ProcessorKeys.Fence, OnlineKeys.DeletedUsers],
                    [token, expected, EmbeddingBytes.ToBytes(moved), last.T, last.Id, user])));
            }

            await Task.WhenAll(writes.Select(w => w.Result));
            users = [];
            foreach (var (user, result) in writes)
            {
                var reply = (long)result.Result;
                throwIfFenced(reply);
                if (reply == 1)
                {
                    written++;
                }
                else if (reply != OnlineScripts.DeletedUser)
                {
                    users.Add(user);
                }
            }
        }

        return written;
    }

    /// <summary>
    /// Moves <paramref name="current"/> by every event newer than <paramref name="version"/>; null when nothing moved.
    /// A user without a vector (or with one of another dimension than the item's) starts from the item's embedding.
    /// </summary>
    internal float[]? Fold(float[]? current, (long T, string Id)? version, List<InteractionEvent> events, Dictionary<string, float[]> items, out (long T, string Id) last)
    {
        last = default;
        var moved = false;
        var vector = current is null ? null : (float[])current.Clone();
        foreach (var e in events)
        {
            var at = Version(e);
            if ((version is { } v && Compare(at, v) <= 0) || !items.TryGetValue(e.ItemId!, out var item))
            {
                continue;
            }

            if (vector is null || vector.Length != item.Length)
            {
                vector = (float[])item.Clone();
            }
            else
            {
                var keep = (float)(1 - alpha);
                var take = (float)alpha;
                for (var d = 0; d < vector.Length; d++)
                {
                    vector[d] = (keep * vector[d]) + (take * item[d]);
                }
            }

            moved = true;
            last = at;
            version = at;
        }

        return moved ? vector : null;
    }

    private async Task<Dictionary<string, float[]>> ReadItemsAsync(string embeddingVersion, List<string> items)
    {
        var reads = items.Select(i => db.StringGetAsync(EmbeddingKeys.Item(embeddingVersion, i))).ToList();
        await Task.WhenAll(reads);
        var vectors = new Dictionary<string, float[]>(items.Count, StringComparer.Ordinal);
        for (var i = 0; i < items.Count; i++)
        {
            if (!reads[i].Result.IsNull && EmbeddingBytes.FromBytes((byte[])reads[i].Result!) is { } vector)
            {
                vectors[items[i]] = vector;
            }
        }

        return vectors;
    }

    private static (long T, string Id) Version(InteractionEvent e) => (e.EventTime.ToUnixTimeMilliseconds(), e.EventId);

    private static int Compare((long T, string Id) a, (long T, string Id) b)
    {
        var byTime = a.T.CompareTo(b.T);
        return byTime != 0 ? byTime : string.CompareOrdinal(a.Id, b.Id);
    }
}
