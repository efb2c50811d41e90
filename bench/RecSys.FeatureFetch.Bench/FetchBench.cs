using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.OnlineStores;
using RecSys.FeatureStore.Registry;
using RecSys.FeatureStore.Streaming;
using RecSys.FeatureStore.Telemetry;
using StackExchange.Redis;

namespace RecSys.FeatureFetch.Bench;

/// <summary>
/// One ranking request's feature fetch: 1 user + 100 candidate items x 5 features = 505 values. Rows, interleaved per
/// iteration so that machine load hits them alike: our <see cref="IOnlineFeatureStore"/> with the L1 cache off and on,
/// the raw StackExchange.Redis pipelined HMGET of the same keys and fields (value and event time per feature: the floor),
/// the same with values only, and (fewer iterations) 505 sequential HGETs.
/// </summary>
internal static class FetchBench
{
    private static readonly string[] UserFeatures = ["user_events_total", "user_clicks_total", "user_impressions_total", "user_views_total", "user_engagement_total"];
    private static readonly string[] ItemFeatures = ["item_events_total", "item_clicks_total", "item_impressions_total", "item_views_total", "item_engagement_total"];

    public static async Task RunAsync(IConnectionMultiplexer redis, int iterations, TextWriter output)
    {
        var registry = new FeatureRegistry();
        var definitions = UserFeatures.Concat(ItemFeatures).Select(n => registry.TryGet(n, out var d) ? d : throw new InvalidOperationException(n)).ToArray();
        var entities = new List<EntityRef> { new(EntityKinds.User, "bench-u") };
        entities.AddRange(Enumerable.Range(0, 100).Select(i => new EntityRef(EntityKinds.Item, $"bench-i{i}")));
        var query = new OnlineFeatureQuery(entities, definitions);
        var values = entities.Count * UserFeatures.Length;

        // Seed every value with its event time, as the stream processor leaves them.
        var db = redis.GetDatabase();
        var t = DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds();
        var random = new Random(3);
        foreach (var entity in entities)
        {
            var fields = Fields(entity).SelectMany(f => new[] { new HashEntry(f, random.Next(1, 10_000)), new HashEntry(f + FeatureFields.TimeSuffix, t) }).ToArray();
            await db.HashSetAsync(OnlineKeys.Features(entity.Kind, entity.Id), fields);
        }

        var keys = entities.Select(e => (RedisKey)OnlineKeys.Features(e.Kind, e.Id)).ToArray();
        var withTimes = entities.Select(e => Fields(e).SelectMany(f => new RedisValue[] { f, f + FeatureFields.TimeSuffix }).ToArray()).ToArray();
        var valuesOnly = entities.Select(e => Fields(e).Select(f => (RedisValue)f).ToArray()).ToArray();

        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var metrics = new FeatureStoreTelemetry(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        var noCache = Store(redis, metrics, TimeSpan.Zero);
        var cached = Store(redis, metrics, TimeSpan.FromSeconds(1));

        var check = await noCache.GetAsync(query);
        var served = check.Sum(r => r.Values.Length);
        var defaults = check.Sum(r => r.Values.Count(v => v.IsDefault));
        if (served != values || defaults != 0)
        {
            throw new InvalidOperationException($"The store served {served} values with {defaults} defaults; expected {values} and 0.");
        }

        var rows = new (string Name, Func<Task> Run, List<double> Times)[]
        {
            ("IOnlineFeatureStore, L1 cache off", async () => await noCache.GetAsync(query), []),
            ("raw pipelined HMGET, value + time fields (floor)", () => RawAsync(db, keys, withTimes), []),
            ("raw pipelined HMGET, value fields only", () => RawAsync(db, keys, valuesOnly), []),
            ("IOnlineFeatureStore, L1 cache on (1 s TTL)", async () => await cached.GetAsync(query), []),
        };

        var warmUp = Math.Max(200, iterations / 10);
        for (var i = 0; i < warmUp + iterations; i++)
        {
            foreach (var row in rows)
            {
                var started = Stopwatch.GetTimestamp();
                await row.Run();
                if (i >= warmUp)
                {
                    row.Times.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
            }
        }

        var sequential = new List<double>();
        var sequentialIterations = Math.Max(20, iterations / 25);
        for (var i = 0; i < sequentialIterations + 5; i++)
        {
            var started = Stopwatch.GetTimestamp();
            for (var e = 0; e < keys.Length; e++)
            {
                foreach (var field in valuesOnly[e])
                {
                    await db.HashGetAsync(keys[e], field);
                }
            }

            if (i >= 5)
            {
                sequential.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        }

        var floor = rows[1].Times;
        output.WriteLine($"fetch of {values} feature values (1 user + 100 items x 5 features), {iterations} iterations after {warmUp} warm-up, rows interleaved; sequential: {sequentialIterations} iterations");
        output.WriteLine();
        output.WriteLine("| row | p50 ms | p99 ms | mean ms | p50 / floor | p99 / floor |");
        output.WriteLine("|---|---:|---:|---:|---:|---:|");
        foreach (var (name, _, times) in rows)
        {
            Line(output, name, times, floor);
        }

        Line(output, $"{values} sequential HGETs (values only)", sequential, floor);
    }

    private static IEnumerable<string> Fields(EntityRef entity) =>
        (entity.Kind == EntityKinds.User ? UserFeatures : ItemFeatures).Select(n => n switch
        {
            _ when n.EndsWith("_events_total", StringComparison.Ordinal) => FeatureFields.EventsTotal,
            _ when n.EndsWith("_clicks_total", StringComparison.Ordinal) => FeatureFields.ClicksTotal,
            _ when n.EndsWith("_impressions_total", StringComparison.Ordinal) => FeatureFields.ImpressionsTotal,
            _ when n.EndsWith("_views_total", StringComparison.Ordinal) => FeatureFields.ViewsTotal,
            _ => FeatureFields.EngagementTotal,
        });

    private static async Task RawAsync(IDatabase db, RedisKey[] keys, RedisValue[][] fields)
    {
        var batch = db.CreateBatch();
        var tasks = new Task<RedisValue[]>[keys.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            tasks[i] = batch.HashGetAsync(keys[i], fields[i]);
        }

        batch.Execute();
        foreach (var task in tasks)
        {
            await task;
        }
    }

    private static RedisOnlineFeatureStore Store(IConnectionMultiplexer redis, FeatureStoreTelemetry metrics, TimeSpan l1) => new(
        redis,
        Options.Create(new OnlineStoreOptions { L1CacheTtl = l1 }),
        metrics,
        TimeProvider.System,
        NullLogger<RedisOnlineFeatureStore>.Instance);

    private static void Line(TextWriter output, string name, List<double> times, List<double> floor)
    {
        var p50 = Percentile(times, 0.50);
        var p99 = Percentile(times, 0.99);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {p50:F3} | {p99:F3} | {times.Average():F3} | {p50 / Percentile(floor, 0.50):F2}x | {p99 / Percentile(floor, 0.99):F2}x |"));
    }

    private static double Percentile(List<double> values, double q)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
    }
}
