using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging.Abstractions;
using RecSys.Bench.Common;
using RecSys.Core.Contracts;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.Streaming;
using RecSys.Ingestion.Bench;
using StackExchange.Redis;

// Ingestion end to end: HTTP POST /v1/events -> FeatureServer (separate process on loopback) -> FasterLog -> stream
// processor -> in-process Garnet. Peers in the same run: raw FasterLog appends and raw pipelined Garnet writes of the
// same keys. Usage: see docs/ingestion-benchmarks.md.
// `impressions`: what impression logging costs the FeatureServer and the store (ImpressionCost.cs).
if (args is ["impressions", .. var impressionArgs])
{
    return await ImpressionCost.RunAsync(impressionArgs);
}

if (!BenchOptions.BenchCommandLine.TryRead(args, BenchOptions.Parse, out var options, out var exitCode))
{
    return exitCode;
}

var json = new JsonSerializerOptions(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
var workload = new Workload(options.Seed);
Console.WriteLine($"# Ingestion benchmark ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores)");
Console.WriteLine($"options: {options with { Rates = [] }}, rates {string.Join(", ", options.Rates)}");

// Peer 1: raw FasterLog appends of the same records, batches of the same size, same concurrency.
var peerDir = Path.Combine(Path.GetTempPath(), "recsys-ingest-peer-" + Guid.NewGuid().ToString("N"));
double rawLogRate;
using (var log = new FasterEventLog(peerDir, NullLogger<FasterEventLog>.Instance))
{
    rawLogRate = await Peers.FasterAppendAsync(log, workload, options.BatchSize, options.Senders, options.PeerEvents);
}

Directory.Delete(peerDir, recursive: true);

// Peer 2: raw pipelined Garnet writes of the keys an event touches (dedupe marker SET NX EX, user and item counter hashes).
double rawStoreRate;
using (var peerGarnet = RespServer.Start(RespServerKind.GarnetInProcess, extraArguments: ["--memory", "256m"]))
using (var peerConnection = await peerGarnet.ConnectAsync())
{
    rawStoreRate = await Peers.PipelinedWritesAsync(peerConnection.GetDatabase(), workload, options.PeerEvents);
}

Console.WriteLine($"peer raw FasterLog append (batch {options.BatchSize}, {options.Senders} writers): {rawLogRate:N0} events/s");
Console.WriteLine($"peer raw pipelined Garnet writes (SET NX EX + 2x HINCRBY per event, 1,000 per pipeline): {rawStoreRate:N0} events/s");

// The online store: in-process Garnet with room for every dedupe marker of the run (the peer's 256 MB would evict).
using var garnetServer = RespServer.Start(RespServerKind.GarnetInProcess, extraArguments: ["--memory", "8g", "--index", "256m"]);
using var garnet = await ConnectionMultiplexer.ConnectAsync(garnetServer.Endpoint);
var dataDir = Path.Combine(Path.GetTempPath(), "recsys-ingest-bench-" + Guid.NewGuid().ToString("N"));
using var server = await ServerProcess.StartAsync(options.ServerPath, garnetServer.Endpoint, dataDir);
using var http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
var db = garnet.GetDatabase();

// Catalog first, so that engagements touch category and creator features too.
foreach (var chunk in workload.Items().Chunk(1_000))
{
    using var response = await http.PutAsJsonAsync("/v1/items", new ItemBatchRequest(chunk), json);
    response.EnsureSuccessStatusCode();
}

// Warm-up (JIT, connections), not measured.
await Ingest.ClosedLoopAsync(http, json, workload, options.BatchSize, options.Senders, TimeSpan.FromSeconds(3));
await Ingest.DrainAsync(db, TimeSpan.FromMinutes(5));

// Freshness at constant offered rates (open loop), each after the backlog of the previous one is drained.
foreach (var rate in options.Rates)
{
    var fresh = await Ingest.FreshnessAsync(http, json, db, workload, rate, options.FreshnessBatch, TimeSpan.FromSeconds(options.Seconds));
    Console.WriteLine(
        $"freshness at {rate:N0} events/s offered ({options.FreshnessBatch} per request): sent {fresh.Sent:N0} events in {fresh.Elapsed.TotalSeconds:F1} s " +
        $"(achieved {fresh.Sent / fresh.Elapsed.TotalSeconds:N0}/s); event-to-online p50 {fresh.P50:F1} ms, p99 {fresh.P99:F1} ms, max {fresh.Max:F1} ms " +
        $"over {fresh.Samples:N0} requests; HTTP ack p50 {fresh.AckP50:F1} ms, p99 {fresh.AckP99:F1} ms");
    await Ingest.DrainAsync(db, TimeSpan.FromMinutes(10));
}

// Sustained throughput (closed loop: as fast as the server acknowledges).
var applied0 = await Ingest.AppliedAsync(db);
var clock = Stopwatch.StartNew();
var accepted = await Ingest.ClosedLoopAsync(http, json, workload, options.BatchSize, options.Senders, TimeSpan.FromSeconds(options.Seconds));
var window = clock.Elapsed;
var appliedInWindow = await Ingest.AppliedAsync(db) - applied0;
var drain = await Ingest.DrainAsync(db, TimeSpan.FromMinutes(10));
var appliedTotal = await Ingest.AppliedAsync(db) - applied0;
Console.WriteLine(
    $"sustained ({options.Senders} senders x {options.BatchSize} events per request, {window.TotalSeconds:F1} s): accepted {accepted / window.TotalSeconds:N0} events/s, " +
    $"applied during the window {appliedInWindow / window.TotalSeconds:N0} events/s, backlog drained in {drain.TotalSeconds:F1} s " +
    $"(applied end to end {appliedTotal / (window + drain).TotalSeconds:N0} events/s)");
Console.WriteLine(
    $"ratios: accepted / raw FasterLog {accepted / window.TotalSeconds / rawLogRate:P1}; applied / raw pipelined Garnet {appliedTotal / (window + drain).TotalSeconds / rawStoreRate:P1}");
server.Dispose();
if (Directory.Exists(dataDir))
{
    Directory.Delete(dataDir, recursive: true);
}

return 0;

namespace RecSys.Ingestion.Bench
{
    internal sealed record BenchOptions(string ServerPath, int Seconds, IReadOnlyList<int> Rates, int FreshnessBatch, int BatchSize, int Senders, int PeerEvents, int Seed)
    {
        public static BenchCommandLine BenchCommandLine { get; } = new BenchCommandLine("dotnet run -c Release --project bench/RecSys.Ingestion.Bench -- [options]")
            .Option("--server", "DLL", "the built FeatureServer (default src/RecSys.FeatureServer/bin/Release/net10.0/RecSys.FeatureServer.dll)")
            .Option("--seconds", "S", "duration of each freshness rate and of the sustained run (default 20)")
            .Option("--rates", "LIST", "offered events/s of the freshness runs (default 5000,1000)")
            .Option("--freshness-batch", "N", "events per request in the freshness runs (default 50)")
            .Option("--batch", "N", "events per request in the sustained run and the FasterLog peer (default 500)")
            .Option("--senders", "N", "concurrent senders (default 4)")
            .Option("--peer-events", "N", "events of each raw peer (default 500000)")
            .Option("--seed", "N", "workload seed (default 1)");

        public static BenchOptions Parse(ParsedArguments args)
        {
            var options = new BenchOptions(
                args.GetString("--server", "src/RecSys.FeatureServer/bin/Release/net10.0/RecSys.FeatureServer.dll"),
                args.GetInt("--seconds", 20),
                args.GetIntList("--rates", [5000, 1000]),
                args.GetInt("--freshness-batch", 50),
                args.GetInt("--batch", 500),
                args.GetInt("--senders", 4),
                args.GetInt("--peer-events", 500_000),
                args.GetInt("--seed", 1));
            ParsedArguments.Require(
                options.Seconds > 0 && options.Rates.All(r => r > 0) && options.FreshnessBatch > 0 && options.BatchSize > 0 && options.Senders > 0 && options.PeerEvents >= options.BatchSize,
                "--seconds, --rates, --freshness-batch, --batch and --senders must be positive, and --peer-events at least --batch.");
            return options;
        }
    }

    /// <summary>Events of 10,000 users on 5,000 items: 70% impressions, 20% views, 8% clicks, 2% likes; ids unique.</summary>
    internal sealed class Workload(int seed)
    {
        public const int Users = 10_000;
        public const int ItemCount = 5_000;
        private static readonly string[] Categories = ["news", "music", "sport", "film", "tech", "food", "travel", "games"];
        private readonly Random _random = new(seed);
        private readonly Lock _lock = new();
        private long _next;

        public IEnumerable<ItemDto?> Items()
        {
            var random = new Random(7);
            for (var i = 0; i < ItemCount; i++)
            {
                yield return new ItemDto($"i{i}", $"c{random.Next(200)}", [Categories[random.Next(Categories.Length)]], ["t"], DateTimeOffset.UtcNow.AddDays(-1), true, null);
            }
        }

        public List<EventDto?> Events(int count, string prefix)
        {
            var list = new List<EventDto?>(count);
            lock (_lock)
            {
                var now = DateTimeOffset.UtcNow;
                for (var k = 0; k < count; k++)
                {
                    var roll = _random.NextDouble();
                    var type = roll < 0.70 ? "impression" : roll < 0.90 ? "view" : roll < 0.98 ? "click" : "like";
                    list.Add(new EventDto($"{prefix}{_next++}", $"u{_random.Next(Users)}", $"i{_random.Next(ItemCount)}", null, type, null, now));
                }
            }

            return list;
        }

        public List<LogRecord> Records(int count, string prefix) =>
        [
            .. Events(count, prefix).Select(e => (LogRecord)new EventRecord(new InteractionEvent(
                e!.EventId!, e.UserId!, e.ItemId, null, EventTypes.TryParse(e.Type, out var t) ? t : EventType.View, null, e.EventTime!.Value))),
        ];
    }

    internal static class Peers
    {
        public static async Task<double> FasterAppendAsync(FasterEventLog log, Workload workload, int batch, int writers, int total)
        {
            var batches = Enumerable.Range(0, total / batch).Select(i => workload.Records(batch, "peer")).ToList();
            var next = -1;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, writers).Select(_ => Task.Run(async () =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < batches.Count)
                {
                    await log.AppendAsync(batches[i], CancellationToken.None);
                }
            })));
            return batches.Count * batch / clock.Elapsed.TotalSeconds;
        }

        public static async Task<double> PipelinedWritesAsync(IDatabase db, Workload workload, int total)
        {
            var events = workload.Events(total, "raw");
            var clock = Stopwatch.StartNew();
            foreach (var chunk in events.Chunk(1_000))
            {
                var batch = db.CreateBatch();
                var tasks = new List<Task>(chunk.Length * 3);
                foreach (var e in chunk)
                {
                    tasks.Add(batch.StringSetAsync(OnlineKeys.AppliedEvent(e!.EventId!), "1", TimeSpan.FromDays(30), When.NotExists));
                    tasks.Add(batch.HashIncrementAsync(OnlineKeys.Features(EntityKinds.User, e.UserId!), FeatureFields.EventsTotal));
                    tasks.Add(batch.HashIncrementAsync(OnlineKeys.Features(EntityKinds.Item, e.ItemId!), FeatureFields.EventsTotal));
                }

                batch.Execute();
                await Task.WhenAll(tasks);
            }

            return total / clock.Elapsed.TotalSeconds;
        }
    }

    internal sealed record Freshness(long Sent, TimeSpan Elapsed, int Samples, double P50, double P99, double Max, double AckP50, double AckP99);

    internal static class Ingest
    {
        private static long _run;

        public static async Task<long> AppliedAsync(IDatabase db) =>
            (long?)await db.HashGetAsync(ProcessorKeys.Stats, ProcessorKeys.EventsApplied) ?? 0;

        /// <summary>Waits until the processor has applied everything the log holds; returns how long it took.</summary>
        public static async Task<TimeSpan> DrainAsync(IDatabase db, TimeSpan limit)
        {
            var clock = Stopwatch.StartNew();
            var previous = -1L;
            var still = 0;
            while (clock.Elapsed < limit)
            {
                var applied = await AppliedAsync(db);
                var position = LogPosition.Parse(await db.StringGetAsync(OnlineKeys.ProcessorPosition));
                // Settled: no progress over three polls 50 ms apart.
                still = applied == previous && !position.IsStart ? still + 1 : 0;
                if (still >= 3)
                {
                    return clock.Elapsed - TimeSpan.FromMilliseconds(150);
                }

                previous = applied;
                await Task.Delay(50);
            }

            throw new TimeoutException("The processor did not catch up.");
        }

        public static async Task<long> ClosedLoopAsync(HttpClient http, JsonSerializerOptions json, Workload workload, int batch, int senders, TimeSpan duration)
        {
            var run = Interlocked.Increment(ref _run);
            var accepted = 0L;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, senders).Select(_ => Task.Run(async () =>
            {
                while (clock.Elapsed < duration)
                {
                    using var response = await http.PostAsJsonAsync("/v1/events", new EventBatchRequest(workload.Events(batch, $"s{run}-")), json);
                    response.EnsureSuccessStatusCode();
                    var body = await response.Content.ReadFromJsonAsync<EventBatchResponse>(json);
                    Interlocked.Add(ref accepted, body!.Accepted);
                }
            })));
            return accepted;
        }

        /// <summary>
        /// Sends <paramref name="batch"/> events every batch/rate seconds (open loop) and polls the online store for the dedupe
        /// marker of each request's last event (pipelined EXISTS every millisecond): event-to-online time is from just
        /// before the request is sent to the first poll that sees the marker.
        /// </summary>
        public static async Task<Freshness> FreshnessAsync(HttpClient http, JsonSerializerOptions json, IDatabase db, Workload workload, int rate, int batch, TimeSpan duration)
        {
            var run = Interlocked.Increment(ref _run);
            var interval = TimeSpan.FromSeconds((double)batch / rate);
            var pending = new List<(string Marker, long Sent)>();
            var gate = new Lock();
            var fresh = new List<double>();
            var acks = new List<double>();
            var sending = true;
            var poller = Task.Run(async () =>
            {
                while (true)
                {
                    (string Marker, long Sent)[] snapshot;
                    lock (gate)
                    {
                        snapshot = [.. pending];
                    }

                    if (snapshot.Length == 0 && !Volatile.Read(ref sending))
                    {
                        return;
                    }

                    var found = await Task.WhenAll(snapshot.Select(p => db.KeyExistsAsync(p.Marker)));
                    var now = Stopwatch.GetTimestamp();
                    lock (gate)
                    {
                        for (var i = 0; i < snapshot.Length; i++)
                        {
                            if (found[i])
                            {
                                fresh.Add(Stopwatch.GetElapsedTime(snapshot[i].Sent, now).TotalMilliseconds);
                                pending.Remove(snapshot[i]);
                            }
                        }
                    }

                    await Task.Delay(1);
                }
            });

            var requests = new List<Task>();
            var clock = Stopwatch.StartNew();
            var sent = 0L;
            for (var k = 0; clock.Elapsed < duration; k++)
            {
                var due = interval * k;
                if (due > clock.Elapsed)
                {
                    await Task.Delay(due - clock.Elapsed);
                }

                var events = workload.Events(batch, $"f{run}-");
                sent += events.Count;
                requests.Add(Task.Run(async () =>
                {
                    var start = Stopwatch.GetTimestamp();
                    lock (gate)
                    {
                        pending.Add((OnlineKeys.AppliedEvent(events[^1]!.EventId!), start));
                    }

                    using var response = await http.PostAsJsonAsync("/v1/events", new EventBatchRequest(events), json);
                    response.EnsureSuccessStatusCode();
                    var ack = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                    lock (gate)
                    {
                        acks.Add(ack);
                    }
                }));
            }

            await Task.WhenAll(requests);
            var elapsed = clock.Elapsed;
            Volatile.Write(ref sending, false);
            await poller.WaitAsync(TimeSpan.FromMinutes(10));
            fresh.Sort();
            acks.Sort();
            return new Freshness(sent, elapsed, fresh.Count, Percentile(fresh, 0.5), Percentile(fresh, 0.99), fresh[^1], Percentile(acks, 0.5), Percentile(acks, 0.99));
        }

        private static double Percentile(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
    }

    /// <summary>The FeatureServer as a separate process on a free loopback port, with the embedded log in a temporary folder.</summary>
    internal sealed class ServerProcess : IDisposable
    {
        private readonly Process _process;
        private bool _disposed;

        private ServerProcess(Process process, Uri baseAddress)
        {
            _process = process;
            BaseAddress = baseAddress;
        }

        public Uri BaseAddress { get; }

        public static async Task<ServerProcess> StartAsync(string dll, string onlineStore, string dataDirectory)
        {
            if (!File.Exists(dll))
            {
                throw new FileNotFoundException($"Build the FeatureServer first (dotnet build -c Release src/RecSys.FeatureServer): {dll} not found.");
            }

            dll = Path.GetFullPath(dll);
            var port = RespServer.FreeTcpPort();
            var info = new ProcessStartInfo("dotnet", [dll, "--urls", $"http://127.0.0.1:{port}"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = Path.GetDirectoryName(Path.GetFullPath(dll))!,
            };
            info.Environment["ConnectionStrings__online-store"] = onlineStore;
            info.Environment["FeatureServer__DataDirectory"] = dataDirectory;
            info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
            info.Environment["Logging__LogLevel__Default"] = "Warning";
            var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start the FeatureServer.");
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is { } line)
                {
                    Console.Error.WriteLine("[featureserver] " + line);
                }
            };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var server = new ServerProcess(process, new Uri($"http://127.0.0.1:{port}"));
            using var probe = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(2) };
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(60))
            {
                try
                {
                    using var response = await probe.GetAsync("/v1/status");
                    if (response.IsSuccessStatusCode)
                    {
                        return server;
                    }
                }
                catch (HttpRequestException)
                {
                    // Not listening yet.
                }

                await Task.Delay(200);
            }

            server.Dispose();
            throw new TimeoutException("The FeatureServer did not start.");
        }

        public void Dispose()
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit();
            }

            _process.Dispose();
        }
    }
}
