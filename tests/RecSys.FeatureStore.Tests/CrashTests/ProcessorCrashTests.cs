using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.Streaming;
using RecSys.FeatureStore.Telemetry;
using RecSys.TestSupport;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace RecSys.FeatureStore.Tests.CrashTests;

/// <summary>
/// Issue 4 item 4: events with resent ids and shuffled, reverse-ordered and in-order batches are appended to the
/// embedded log while the real <see cref="StreamProcessor"/> (with its <see cref="OnlineApplier"/>) is killed at random
/// points (its store connection closed abruptly mid-batch, or its token cancelled) and restarted as a new instance. The
/// online state must then equal, key by key, a reference store where the deduplicated events were applied once in log
/// order by the same applier: 0 lost, 0 doubled, 0 older-over-newer. The number of events is
/// <c>RECSYS_CRASH_EVENTS</c> (default <see cref="DefaultEvents"/>; the documented run is 1,000,000).
/// </summary>
public sealed class ProcessorCrashTests(ITestOutputHelper output) : IDisposable
{
    public const int DefaultEvents = 100_000;
    private const int Users = 3_000;
    private const int Items = 2_000;
    private static readonly string[] Categories = ["news", "music", "sport", "film", "tech", "food", "travel", "games"];
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "recsys-crash-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static int EventCount() =>
        int.TryParse(Environment.GetEnvironmentVariable("RECSYS_CRASH_EVENTS"), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : DefaultEvents;

    [Fact]
    public async Task Killing_the_processor_at_random_points_neither_loses_nor_doubles_nor_regresses_anything()
    {
        var total = EventCount();
        var random = new Random(20261126);
        var batches = Generate(random, total);
        // Room for the 1M-event run: a Garnet without a storage tier evicts its oldest records (the processor's position
        // among them) once its object heap passes --memory, which would look like a lost store.
        using var online = EmbeddedGarnet.WithMemory("4g");
        using var reference = EmbeddedGarnet.WithMemory("4g");
        using var log = new FasterEventLog(_dir, NullLogger<FasterEventLog>.Instance);
        var clock = Stopwatch.StartNew();

        // Ingest concurrently with the processor, which is killed and restarted all along.
        var appender = Task.Run(async () =>
        {
            foreach (var batch in batches)
            {
                await log.AppendAsync(batch, CancellationToken.None);
            }
        });

        var kills = 0;
        var cancels = 0;
        while (true)
        {
            var done = appender.IsCompleted && await CaughtUpAsync(online, log);
            if (done)
            {
                break;
            }

            using var connection = await ConnectAsync(online);
            using var cts = new CancellationTokenSource();
            var processor = Processor(log, connection);
            var run = Task.Run(() => processor.RunAsync(cts.Token));
            await Task.Delay(random.Next(10, 800));
            if (appender.IsCompleted && random.NextDouble() < 0.2)
            {
                // Now and then let an incarnation run to the end of the log before it is stopped.
                while (!await CaughtUpAsync(online, log) && !run.IsCompleted)
                {
                    await Task.Delay(20);
                }
            }

            if (random.NextDouble() < 0.75)
            {
                // Abrupt: the store connection goes away between (or during) the script calls of a batch.
                await connection.CloseAsync(allowCommandsToComplete: false);
                kills++;
            }
            else
            {
                cancels++;
            }

            await cts.CancelAsync();
            try
            {
                await run.WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (Exception ex) when (ex is OperationCanceledException or RedisException or ObjectDisposedException or ProcessorFencedException)
            {
                // The processor died. Fenced: a killed predecessor's token request was still queued on the server and ran
                // after this incarnation took its token; the hosted service would take a new one, here the next
                // incarnation does.
            }
        }

        await appender;
        var ingested = clock.Elapsed;

        // The reference: every record of the log, events deduplicated by id (first occurrence), applied once in log order.
        var records = await ReadAllAsync(log);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var deduplicated = records.Where(r => r is not EventRecord { Event: var e } || seen.Add(e.EventId)).ToList();
        var applier = Infrastructure.Applier(reference);
        var position = await applier.InitializeAsync();
        for (var i = 0; i < deduplicated.Count; i += 512)
        {
            var chunk = deduplicated.Skip(i).Take(512).Select((r, k) => new LogEntry(i + k, i + k + 1, r)).ToList();
            var next = LogPosition.FromInt64(i + chunk.Count);
            Assert.True((await applier.ApplyAsync(chunk, position, next)).Committed);
            position = next;
        }

        var referenceTime = clock.Elapsed - ingested;
        var comparison = await CompareAsync(reference, online);
        var truth = CheckAgainstEvents(deduplicated, reference);
        output.WriteLine(
            $"{total:N0} events ({seen.Count:N0} distinct, {records.Count:N0} records) in {batches.Count:N0} batches; " +
            $"{kills} connection kills, {cancels} cancellations; ingested and applied in {ingested.TotalSeconds:F1} s, " +
            $"reference applied in {referenceTime.TotalSeconds:F1} s, total {clock.Elapsed.TotalSeconds:F1} s; {comparison}; reference vs event counts: {truth} mismatches");
        Assert.True(kills > 0);
        Assert.Equal(0, truth);
        Assert.Equal(0, comparison.Lost);
        Assert.Equal(0, comparison.Doubled);
        Assert.Equal(0, comparison.OlderOverNewer);
        Assert.Equal(0, comparison.Other);
        Assert.True(comparison.Keys > Users);
    }

    /// <summary>Items first, then event batches: 5% resent ids, a third each shuffled, reverse-ordered by time and in order.</summary>
    private static List<List<LogRecord>> Generate(Random random, int total)
    {
        var t0 = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        var batches = new List<List<LogRecord>>();
        var items = new List<LogRecord>();
        for (var i = 0; i < Items; i++)
        {
            var cats = Categories.Where(_ => random.NextDouble() < 0.3).ToArray();
            items.Add(new ItemUpsertRecord(new CatalogItem(
                $"i{i}", random.NextDouble() < 0.8 ? $"c{random.Next(50)}" : null, cats, ["t"], t0.AddHours(-random.Next(500)), random.NextDouble() < 0.95, null)));
        }

        batches.AddRange(items.Chunk(500).Select(c => c.ToList()));
        var types = Enum.GetValues<EventType>();
        var sent = new List<InteractionEvent>(total);
        var count = 0;
        while (count < total)
        {
            var size = Math.Min(total - count, random.Next(1, 1_000));
            var batch = new List<InteractionEvent>(size);
            for (var k = 0; k < size; k++)
            {
                if (sent.Count > 100 && random.NextDouble() < 0.05)
                {
                    // A resend: the same event (same id) again, possibly much later.
                    batch.Add(sent[random.Next(sent.Count)]);
                    continue;
                }

                var type = types[random.Next(types.Length)];
                var time = t0.AddSeconds(random.Next(7 * 24 * 3600));
                var user = $"u{random.Next(Users)}";
                var e = type == EventType.Follow
                    ? new InteractionEvent($"e{count + k}", user, null, $"c{random.Next(50)}", type, null, time)
                    : new InteractionEvent($"e{count + k}", user, $"i{random.Next(Items)}", null, type, type == EventType.Rating ? random.Next(1, 6) : null, time);
                batch.Add(e);
                sent.Add(e);
            }

            count += size;
            batch = (batches.Count % 3) switch
            {
                0 => [.. batch.OrderBy(_ => random.Next())],
                1 => [.. batch.OrderByDescending(e => e.EventTime)],
                _ => [.. batch.OrderBy(e => e.EventTime)],
            };
            batches.Add([.. batch.Select(e => (LogRecord)new EventRecord(e))]);
        }

        return batches;
    }

    private static StreamProcessor Processor(IEventLog log, IConnectionMultiplexer connection)
    {
        var metrics = Infrastructure.Metrics();
        return new StreamProcessor(
            log,
            new OnlineApplier(connection, metrics),
            new ProcessorState(),
            metrics,
            Options.Create(new FeatureStoreOptions()),
            TimeProvider.System,
            NullLogger<StreamProcessor>.Instance);
    }

    private static Task<ConnectionMultiplexer> ConnectAsync(EmbeddedGarnet garnet) =>
        ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions
        {
            EndPoints = { { IPAddress.Loopback, garnet.Port } },
            AbortOnConnectFail = false,
            ConnectRetry = 0,
            SyncTimeout = 30_000,
            AsyncTimeout = 30_000,
        });

    private static async Task<bool> CaughtUpAsync(EmbeddedGarnet garnet, FasterEventLog log)
    {
        var stored = LogPosition.Parse(await garnet.Connection.GetDatabase().StringGetAsync(OnlineKeys.ProcessorPosition));
        return stored.Ordinal >= log.TailPosition;
    }

    private static async Task<List<LogRecord>> ReadAllAsync(FasterEventLog log)
    {
        var records = new List<LogRecord>();
        var position = LogPosition.Start;
        while (position.Ordinal < log.TailPosition)
        {
            var batch = await log.ReadAsync(position, 10_000, CancellationToken.None);
            records.AddRange(batch.Entries.Select(e => e.Record));
            position = batch.NextPosition;
        }

        return records;
    }

    /// <summary>Every user's and item's event count in the reference equals the count of distinct events.</summary>
    private static int CheckAgainstEvents(List<LogRecord> deduplicated, EmbeddedGarnet reference)
    {
        var expected = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var record in deduplicated)
        {
            if (record is EventRecord { Event: var e })
            {
                var key = OnlineKeys.Features(EntityKinds.User, e.UserId);
                expected[key] = expected.GetValueOrDefault(key) + 1;
                if (e.ItemId is { } item)
                {
                    var itemKey = OnlineKeys.Features(EntityKinds.Item, item);
                    expected[itemKey] = expected.GetValueOrDefault(itemKey) + 1;
                }
            }
        }

        var db = reference.Connection.GetDatabase();
        var mismatches = 0;
        foreach (var (key, count) in expected)
        {
            if ((long)db.HashGet(key, FeatureFields.EventsTotal) != count)
            {
                mismatches++;
            }
        }

        return mismatches;
    }

    /// <summary>What differs between the reference and the crashed store, by kind.</summary>
    private sealed record Comparison(int Keys, int Lost, int Doubled, int OlderOverNewer, int Other, List<string> Examples)
    {
        public override string ToString() =>
            $"{Keys:N0} keys compared: {Lost} lost, {Doubled} doubled, {OlderOverNewer} older-over-newer, {Other} other" +
            (Examples.Count > 0 ? " (" + string.Join("; ", Examples) + ")" : "");
    }

    private static async Task<Comparison> CompareAsync(EmbeddedGarnet reference, EmbeddedGarnet online)
    {
        var expected = await DumpAsync(reference);
        var actual = await DumpAsync(online);
        int lost = 0, doubled = 0, older = 0, other = 0;
        var examples = new List<string>();
        void Note(ref int counter, string what)
        {
            counter++;
            if (examples.Count < 10)
            {
                examples.Add(what);
            }
        }

        foreach (var (key, fields) in expected)
        {
            if (!actual.TryGetValue(key, out var found))
            {
                Note(ref lost, "missing key " + key);
                continue;
            }

            foreach (var (field, value) in fields)
            {
                if (!found.TryGetValue(field, out var got))
                {
                    Note(ref lost, $"{key} lacks {field}");
                }
                else if (value != got)
                {
                    var isTime = field.EndsWith(FeatureFields.TimeSuffix, StringComparison.Ordinal)
                        || field == FeatureFields.LastEventMs
                        || key.EndsWith(":recent", StringComparison.Ordinal);
                    if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var e)
                        || !double.TryParse(got, NumberStyles.Float, CultureInfo.InvariantCulture, out var a))
                    {
                        Note(ref other, $"{key} {field}: {got} instead of {value}");
                    }
                    else if (Math.Abs(a - e) <= 1e-9 * Math.Max(1, Math.Abs(e)))
                    {
                        continue;
                    }
                    else if (isTime && a < e)
                    {
                        Note(ref older, $"{key} {field}: {got} < {value}");
                    }
                    else if (isTime)
                    {
                        Note(ref other, $"{key} {field}: {got} > {value}");
                    }
                    else if (a < e)
                    {
                        Note(ref lost, $"{key} {field}: {got} < {value}");
                    }
                    else
                    {
                        Note(ref doubled, $"{key} {field}: {got} > {value}");
                    }
                }
            }

            foreach (var field in found.Keys.Where(f => !fields.ContainsKey(f)))
            {
                Note(ref doubled, $"{key} has extra {field}");
            }
        }

        foreach (var key in actual.Keys.Where(k => !expected.ContainsKey(k)))
        {
            Note(ref doubled, "extra key " + key);
        }

        return new Comparison(expected.Count, lost, doubled, older, other, examples);
    }

    /// <summary>Every key except the processor's own, as field (member) to value (score).</summary>
    private static async Task<Dictionary<string, Dictionary<string, string>>> DumpAsync(EmbeddedGarnet garnet)
    {
        var server = garnet.Connection.GetServer(IPAddress.Loopback, garnet.Port);
        var db = garnet.Connection.GetDatabase();
        var dump = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        var keys = server.Keys(pattern: "*", pageSize: 5_000).Select(k => k.ToString())
            .Where(k => k is not (OnlineKeys.ProcessorPosition or ProcessorKeys.Stats or ProcessorKeys.Fence or ProcessorKeys.Lease)).ToList();
        foreach (var chunk in keys.Chunk(2_000))
        {
            var types = await Task.WhenAll(chunk.Select(k => db.KeyTypeAsync(k)));
            var values = await Task.WhenAll(chunk.Select((k, i) => ReadAsync(db, k, types[i])));
            for (var i = 0; i < chunk.Length; i++)
            {
                dump[chunk[i]] = values[i];
            }
        }

        return dump;
    }

    private static async Task<Dictionary<string, string>> ReadAsync(IDatabase db, string key, RedisType type)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        switch (type)
        {
            case RedisType.String:
                fields[""] = (await db.StringGetAsync(key)).ToString();
                break;
            case RedisType.Hash:
                foreach (var e in await db.HashGetAllAsync(key))
                {
                    fields[e.Name.ToString()] = e.Value.ToString();
                }

                break;
            case RedisType.Set:
                foreach (var m in await db.SetMembersAsync(key))
                {
                    fields[m.ToString()] = "";
                }

                break;
            case RedisType.SortedSet:
                foreach (var e in await db.SortedSetRangeByRankWithScoresAsync(key))
                {
                    fields[e.Element.ToString()] = e.Score.ToString("R", CultureInfo.InvariantCulture);
                }

                break;
            default:
                fields["?"] = type.ToString();
                break;
        }

        return fields;
    }
}
