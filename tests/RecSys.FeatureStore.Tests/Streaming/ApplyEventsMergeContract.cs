using System.Globalization;
using RecSys.Core.Domain;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.Streaming;
using RecSys.FeatureStore.Tests.OnlineStores;
using RecSys.TestSupport;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Tests.Streaming;

/// <summary>
/// The apply script gathers the counter changes of a call per feature hash and writes each hash once. With one event per
/// call every hash is read and written per event, so applying the same records with one event per call and with many
/// must leave the same store, byte for byte: values, event times, ring buckets, sets, scores and the processor totals.
/// </summary>
public abstract class ApplyEventsMergeContract(IConnectionMultiplexer redis, Action flush)
{
    /// <summary>Random types, users and times (out of order, shared ring slots, follows), then a resent slice (duplicates).</summary>
    private static List<LogEntry> RandomWithResends()
    {
        var records = TestData.RandomStream(23, items: 40, users: 6, events: 1_200);
        records.AddRange(records.Skip(500).Take(150));
        return TestData.Entries(records);
    }

    /// <summary>Ranking's shape: lists of 20 impressions of one user at one time, a click now and then, lists sent again.</summary>
    private static List<LogEntry> ServedLists()
    {
        var random = new Random(3);
        var records = new List<LogRecord>();
        for (var i = 0; i < 300; i++)
        {
            records.Add(TestData.Item($"i{i}", $"c{i % 7}", [i % 2 == 0 ? "news" : "film"]));
        }

        List<LogRecord> previous = [];
        for (var list = 0; list < 120; list++)
        {
            var user = $"u{random.Next(15)}";
            var time = TestData.T0.AddMinutes(list * 7 % 600).AddMilliseconds(list);
            var shown = Enumerable.Range(0, 300).OrderBy(_ => random.Next()).Take(20).ToList();
            var served = shown.Select((item, k) => (LogRecord)TestData.Event($"q{list}:{k}", user, $"i{item}", EventType.Impression, time)).ToList();
            if (random.NextDouble() < 0.2)
            {
                served.Add(TestData.Event($"q{list}:c", user, $"i{shown[random.Next(20)]}", EventType.Click, time.AddSeconds(1)));
            }

            if (list % 10 == 9)
            {
                records.AddRange(previous);
            }

            records.AddRange(served);
            previous = served;
        }

        return TestData.Entries(records);
    }

    [StoreFact]
    public Task Random_events_leave_the_same_store_with_one_or_many_events_per_call() => AssertSameAsync(RandomWithResends());

    [StoreFact]
    public Task Served_lists_leave_the_same_store_with_one_or_many_events_per_call() => AssertSameAsync(ServedLists());

    private async Task AssertSameAsync(List<LogEntry> entries)
    {
        var perEvent = await ApplyAsync(entries, eventsPerScript: 1);
        var merged = await ApplyAsync(entries, eventsPerScript: 32);
        var large = await ApplyAsync(entries, eventsPerScript: 200);
        Assert.True(perEvent.Count > 500);
        Assert.Equal(perEvent, merged);
        Assert.Equal(perEvent, large);
    }

    /// <summary>Applies the entries in batches of 512 on a flushed store; returns every key's exact content (TTLs left out).</summary>
    private async Task<SortedDictionary<string, string>> ApplyAsync(List<LogEntry> entries, int eventsPerScript)
    {
        flush();
        var applier = new OnlineApplier(redis, Infrastructure.Metrics()) { EventsPerScript = eventsPerScript };
        var position = await applier.InitializeAsync();
        foreach (var batch in entries.Chunk(512))
        {
            var next = LogPosition.FromInt64(batch[^1].NextPosition);
            Assert.True((await applier.ApplyAsync(batch, position, next)).Committed);
            position = next;
        }

        var server = redis.GetServer(redis.GetEndPoints()[0]);
        var db = redis.GetDatabase();
        var dump = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in server.Keys(pattern: "*", pageSize: 1_000).Select(k => k.ToString()).ToList())
        {
            if (key is ProcessorKeys.Fence or ProcessorKeys.Lease)
            {
                continue;
            }

            var type = await db.KeyTypeAsync(key);
            dump[key] = type switch
            {
                RedisType.String => "s:" + await db.StringGetAsync(key),
                RedisType.Hash => "h:" + string.Join(';', (await db.HashGetAllAsync(key)).Select(e => $"{e.Name}={e.Value}").Order(StringComparer.Ordinal)),
                RedisType.Set => "S:" + string.Join(';', (await db.SetMembersAsync(key)).Select(m => m.ToString()).Order(StringComparer.Ordinal)),
                RedisType.SortedSet => "z:" + string.Join(';', (await db.SortedSetRangeByRankWithScoresAsync(key))
                    .Select(e => $"{e.Element}={e.Score.ToString("R", CultureInfo.InvariantCulture)}").Order(StringComparer.Ordinal)),
                _ => "?" + type,
            };
        }

        return dump;
    }
}

/// <summary>Against Garnet, in-process.</summary>
public sealed class GarnetApplyEventsMergeTests(EmbeddedGarnet garnet)
    : ApplyEventsMergeContract(garnet.Connection, garnet.Flush), IClassFixture<EmbeddedGarnet>;

/// <summary>Against redis-server (Redis 7.0 from apt); reported skipped, with the reason, when it is missing.</summary>
[RequiresRedisServer]
public sealed class RedisApplyEventsMergeTests(RedisServerFixture redis)
    : ApplyEventsMergeContract(redis.Server.Connection, redis.Server.Flush), IClassFixture<RedisServerFixture>;
