using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using RecSys.Core.Domain;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.Streaming;
using RecSys.FeatureStore.Telemetry;
using StackExchange.Redis;

namespace RecSys.FeatureFetch.Bench;

/// <summary>Events/s of the stream processor's Lua (<see cref="OnlineApplier"/>) on a store, batches of 512 as the processor sends.</summary>
internal static class ApplyBench
{
    public static async Task RunAsync(IConnectionMultiplexer redis, int events, TextWriter output)
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var metrics = new FeatureStoreTelemetry(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), new ProcessorState());
        var applier = new OnlineApplier(redis, metrics);
        await redis.GetServers()[0].FlushAllDatabasesAsync();
        var position = await applier.InitializeAsync();
        var records = Stream(events);
        var stopwatch = Stopwatch.StartNew();
        var applied = 0;
        for (var start = 0; start < records.Count; start += 512)
        {
            var entries = new List<LogEntry>();
            for (var i = start; i < Math.Min(records.Count, start + 512); i++)
            {
                entries.Add(new LogEntry(i, i + 1, records[i]));
            }

            var result = await applier.ApplyAsync(entries, position, entries[^1].NextPosition);
            position = result.StoredPosition;
            applied += result.EventsApplied;
        }

        stopwatch.Stop();
        output.WriteLine($"apply: {applied:N0} events in {stopwatch.Elapsed.TotalSeconds:F2} s = {applied / stopwatch.Elapsed.TotalSeconds:N0} events/s");

        // Server-side time of the scripts (less sensitive to client scheduling on a loaded machine).
        var info = await redis.GetServers()[0].InfoAsync("commandstats");
        var evalsha = info.SelectMany(g => g).FirstOrDefault(kv => kv.Key == "cmdstat_evalsha").Value;
        if (evalsha is not null && evalsha.Split(',').FirstOrDefault(p => p.StartsWith("usec=", StringComparison.Ordinal)) is { } usec)
        {
            var micros = double.Parse(usec[5..], System.Globalization.CultureInfo.InvariantCulture);
            output.WriteLine($"server time in EVALSHA: {micros / 1e6:F2} s = {micros / applied:F1} us per event ({evalsha})");
        }
    }

    private static List<LogRecord> Stream(int events)
    {
        var random = new Random(7);
        var t0 = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        var categories = new[] { "news", "music", "sport", "film", "tech", "food", "travel", "games" };
        var records = new List<LogRecord>();
        for (var i = 0; i < 2_000; i++)
        {
            records.Add(new ItemUpsertRecord(new CatalogItem($"i{i}", $"c{i % 50}", [categories[i % categories.Length], categories[(i / 8) % categories.Length]], ["t"], t0, true, null)));
        }

        EventType[] types = [EventType.Impression, EventType.Impression, EventType.Impression, EventType.View, EventType.Click, EventType.Like];
        for (var e = 0; e < events; e++)
        {
            var type = types[random.Next(types.Length)];
            records.Add(new EventRecord(new InteractionEvent($"e{e}", $"u{random.Next(5_000)}", $"i{random.Next(2_000)}", null, type, null, t0.AddSeconds(e * 0.5 + random.Next(-600, 600)))));
        }

        return records;
    }
}
