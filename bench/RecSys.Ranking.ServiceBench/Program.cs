using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using RecSys.Bench.Common;
using RecSys.Candidates;
using RecSys.Core.Contracts;
using RecSys.FeatureStore.Keys;
using RecSys.Ranking.Feedback;
using RecSys.Ranking.Services;

namespace RecSys.Ranking.ServiceBench;

/// <summary>
/// CPU per learned request of the Ranking service as served, minus Retrieval: <c>GET /v1/recommendations/{user}</c> through
/// the service's own host (Program, DI, middleware, JSON) on the in-memory test server; Retrieval's answer is a recorded
/// wire-format payload per request; the store is the RecSys.OnlineStore host (Garnet) over a fresh copy of a seeded world,
/// a child process whose CPU is read from /proc; impressions are sent to a sink that accepts them.
/// </summary>
internal static class ServiceBench
{
    private static readonly string[] SourceNames = ["collaborative", "content", "trending", "creator"];

    public static Task<int> Main(string[] args) =>
        new BenchCommandLine("dotnet bench/RecSys.Ranking.ServiceBench/bin/Release/net10.0/RecSys.Ranking.ServiceBench.dll [options]")
            .Option("--world", "DIR", "a world seeded by bench/scripts/ranking-cost.sh (garnet/ and models/rankers/; default /tmp/cost/world)")
            .Option("--work", "DIR", "scratch folder for the store's copy (default /tmp/recsys-ranking-service-bench)")
            .Option("--store-dll", "FILE", "RecSys.OnlineStore.dll (default: this checkout's Release build)")
            .Option("--candidates", "N", "candidates per request (default 5000)")
            .Option("--requests", "N", "requests per pass (default 200)")
            .Option("--rounds", "N", "measured passes (default 3)")
            .Option("--warmup", "N", "passes before the measured ones (default 2: the JIT's tiers settle)")
            .Option("--results", "FILE", "writes every request's served list (items and scores) here, to compare builds")
            .Option("--seed", "N", "workload seed (default 11)")
            .Flag("--allocations", "samples the measured passes' allocations by type (the runtime's allocation ticks, one per ~100 KB) and prints the largest")
            .RunAsync(args, RunAsync);

    private static async Task<int> RunAsync(ParsedArguments options)
    {
        var world = Path.GetFullPath(options.GetString("--world", "/tmp/cost/world"));
        var work = Path.GetFullPath(options.GetString("--work", "/tmp/recsys-ranking-service-bench"));
        var candidateCount = options.GetInt("--candidates", 5_000);
        var requests = options.GetInt("--requests", 200);
        var rounds = options.GetInt("--rounds", 3);
        var warmup = Math.Max(1, options.GetInt("--warmup", 2));
        var seed = options.GetInt("--seed", 11);
        ParsedArguments.Require(Directory.Exists(Path.Combine(world, "garnet")) && Directory.Exists(Path.Combine(world, "models", "rankers")),
            $"{world} holds no seeded world (garnet/, models/rankers/): run bench/scripts/ranking-cost.sh once.");
        var storeDll = options.GetString("--store-dll", Path.Combine(RepositoryRoot(), "src/RecSys.OnlineStore/bin/Release/net10.0/RecSys.OnlineStore.dll"));
        ParsedArguments.Require(File.Exists(storeDll), $"{storeDll} not found: dotnet build -c Release src/RecSys.OnlineStore");

        var clock = Stopwatch.StartNew();
        // A fresh copy each run: the store appends to its log, and every build must start from the same state.
        if (Directory.Exists(work))
        {
            Directory.Delete(work, recursive: true);
        }

        CopyDirectory(Path.Combine(world, "garnet"), Path.Combine(work, "garnet"));
        CopyDirectory(Path.Combine(world, "models", "rankers"), Path.Combine(work, "rankers"));
        Console.WriteLine($"world copied to {work} ({clock.Elapsed.TotalSeconds:F1} s)");

        using var store = StoreProcess.Start(storeDll, Path.Combine(work, "garnet"));
        using var redis = await store.ConnectAsync();
        var catalog = (await redis.GetDatabase().SetMembersAsync(OnlineKeys.AllItems)).Select(v => v.ToString()).Order(StringComparer.Ordinal).ToArray();
        ParsedArguments.Require(catalog.Length >= candidateCount, $"The store holds {catalog.Length} items, fewer than --candidates {candidateCount}.");
        Console.WriteLine($"store: pid {store.Pid}, port {store.Port}, {catalog.Length:N0} items ({clock.Elapsed.TotalSeconds:F1} s)");

        // A workload per pass (the warm-up's and each measured pass's): no (user, item) score repeats from the pass before, so the
        // main stage's score cache is consulted and filled as served but rarely hits, in every build alike.
        var workload = BuildWorkload(catalog, candidateCount, requests * (warmup + rounds), seed);
        Console.WriteLine($"workload: {warmup + rounds} passes x {requests} requests x {candidateCount:N0} candidates, {workload.Average(w => w.Payload.Length) / 1024:F0} KB per payload");

        var retrieval = new RecordedRetrieval();
        var impressions = new ImpressionSink();
        var now = new DateTimeOffset(2026, 12, 3, 8, 0, 0, TimeSpan.Zero);
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseEnvironment("Production");
            web.UseContentRoot(Path.Combine(RepositoryRoot(), "src", "RecSys.Ranking"));
            web.UseSetting("ConnectionStrings:online-store", $"127.0.0.1:{store.Port}");
            web.UseSetting("Ranking:RetrievalBaseAddress", "http://retrieval.bench");
            web.UseSetting("Ranking:Models:Path", Path.Combine(work, "rankers"));
            web.UseSetting("Ranking:Feedback:FeatureServerBaseAddress", "http://featureserver.bench");
            // As bench/scripts/ranking-cost.sh runs the service: the catalog's re-read kept out of the passes, no tracing.
            web.UseSetting("Ranking:Features:ItemTableRefresh", "01:00:00");
            web.UseSetting("OTEL_SDK_DISABLED", "true");
            web.UseSetting("RecSys:Security:Mode", "Open");
            web.UseSetting("Logging:LogLevel:Default", "Warning");
            web.ConfigureServices(services =>
            {
                services.AddHttpClient<RetrievalClient>().ConfigurePrimaryHttpMessageHandler(() => retrieval);
                services.AddHttpClient(ImpressionLogger.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => impressions);
            });
            // The request time is fixed (freshness and recency features), so that two builds get bitwise the same answers.
            web.ConfigureTestServices(services => services.AddSingleton<TimeProvider>(new FixedNowTimeProvider(now)));
        });
        using var client = factory.CreateClient();

        // Served once the release is loaded and the item table has read the catalog.
        var ready = Stopwatch.StartNew();
        while (true)
        {
            retrieval.Next = workload[0].Payload;
            var first = await client.GetFromJsonAsync<RecommendationResponse>($"/v1/recommendations/{workload[0].User}?count=20", JsonDefaults.Options);
            if (first?.Metadata.Models is not null && first.Metadata.Models.ContainsKey("pre-ranker") && first.Metadata.Degraded.Count == 0 && ItemTableReady(factory))
            {
                break;
            }

            ParsedArguments.Require(ready.Elapsed < TimeSpan.FromMinutes(5), $"The learned ranker does not serve: degraded {string.Join(",", first?.Metadata.Degraded ?? [])}.");
            await Task.Delay(500);
        }

        Console.WriteLine($"service ready ({clock.Elapsed.TotalSeconds:F1} s); {SystemLine()}");

        // Warm-up passes; their answers and every measured pass's are the ones compared across builds.
        var answers = new RecommendationResponse[workload.Length];
        for (var q = 0; q < warmup * requests; q++)
        {
            answers[q] = await AskAsync(client, retrieval, workload[q]);
        }

        MeasureDecoding(workload.AsSpan(0, requests));

        var stageNames = new[] { "retrieval", "feature_fetch", "pre_rank", "main_rank", "post_process", "ranking", "total" };
        Console.WriteLine();
        Console.WriteLine($"| pass | Ranking CPU-ms/request (process) | Garnet CPU-ms/request | store commands/request | {string.Join(" | ", stageNames)} (wall ms) | wall ms/request | allocated KB/request | gen0/1/2 |");
        Console.WriteLine($"|---|---:|---:|---:|{string.Concat(stageNames.Select(_ => "---:|"))}---:|---:|---|");
        var spentPerPass = new List<double>();
        var commandsBefore = await store.CommandCountsAsync(redis);
        using var counters = new CounterTotals("RecSys.Ranking.Features");
        using var allocationTicks = options.Has("--allocations") ? new AllocationTicks() : null;
        for (var round = 0; round < rounds; round++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            var bodies = new byte[requests][];
            var commands = await store.CommandCountAsync(redis);
            var storeCpu = store.CpuMilliseconds();
            var cpu = CpuClocks.ProcessMilliseconds();
            var allocated = GC.GetTotalAllocatedBytes(precise: true);
            var gcs = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
            var watch = Stopwatch.StartNew();
            var pass = workload.AsSpan((warmup + round) * requests, requests).ToArray();
            for (var q = 0; q < requests; q++)
            {
                retrieval.Next = pass[q].Payload;
                using var response = await client.GetAsync($"/v1/recommendations/{pass[q].User}?count=20");
                response.EnsureSuccessStatusCode();
                bodies[q] = await response.Content.ReadAsByteArrayAsync();
            }

            var wall = watch.Elapsed.TotalMilliseconds;
            var spent = (CpuClocks.ProcessMilliseconds() - cpu) / requests;
            var bytes = (GC.GetTotalAllocatedBytes(precise: true) - allocated) / 1024.0 / requests;
            var gcText = $"{GC.CollectionCount(0) - gcs.Item1}/{GC.CollectionCount(1) - gcs.Item2}/{GC.CollectionCount(2) - gcs.Item3}";
            var storeSpent = (store.CpuMilliseconds() - storeCpu) / requests;
            var storeCommands = (await store.CommandCountAsync(redis) - commands) / (double)requests;
            spentPerPass.Add(spent);

            // Parsed after the window: the client's reading of the answer is not the service's cost.
            var stages = new double[stageNames.Length];
            var degraded = 0;
            for (var q = 0; q < requests; q++)
            {
                var answer = System.Text.Json.JsonSerializer.Deserialize<RecommendationResponse>(bodies[q], JsonDefaults.Options)!;
                answers[((warmup + round) * requests) + q] = answer;
                degraded += answer.Metadata.Degraded.Count > 0 ? 1 : 0;
                for (var s = 0; s < stageNames.Length; s++)
                {
                    stages[s] += answer.Metadata.StageMs.GetValueOrDefault(stageNames[s]);
                }
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| #{round + 1} | {spent:F2} | {storeSpent:F2} | {storeCommands:F1} | {string.Join(" | ", stages.Select(s => (s / requests).ToString("F2", CultureInfo.InvariantCulture)))} | {wall / requests:F2} | {bytes:F0} | {gcText} |"));
            if (degraded > 0)
            {
                Console.WriteLine($"  warning: {degraded} degraded answers (not a learned figure)");
            }
        }

        Console.WriteLine("feature provider counters per request over the passes: " + string.Join(", ",
            counters.Totals.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Key} {c.Value / (double)(requests * rounds):F1}"))));
        if (allocationTicks is not null)
        {
            Console.WriteLine("allocated KB per request by type (sampled): " + string.Join(", ", allocationTicks.Totals.OrderByDescending(t => t.Value).Take(25)
                .Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Key} {t.Value / 1024.0 / (requests * rounds):F1}"))));
        }

        var commandsAfter = await store.CommandCountsAsync(redis);
        Console.WriteLine("store commands per request over the passes: " + string.Join(", ", commandsAfter
            .Select(c => (c.Key, Calls: (c.Value - commandsBefore.GetValueOrDefault(c.Key)) / (double)(requests * rounds)))
            .Where(c => c.Calls > 0.01).OrderByDescending(c => c.Calls).Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Key} {c.Calls:F2}"))));

        if (options.GetStringOrNull("--results") is { } resultsFile)
        {
            WriteResults(resultsFile, workload, answers);
            Console.WriteLine($"served lists of all {answers.Length} requests written to {resultsFile}");
        }

        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"median {spentPerPass.Order().ElementAt(spentPerPass.Count / 2):F2} Ranking CPU-ms per request over {rounds} passes of {requests}; impressions sent {impressions.Batches} batches, {impressions.Bytes / 1024} KB"));
        Console.WriteLine("stage columns: wall ms per request from the response's metadata (one request at a time: close to CPU on the request's path, except waits for the store and the batcher)");
        return 0;
    }

    private static bool ItemTableReady(WebApplicationFactory<Program> factory) =>
        factory.Services.GetService<RecSys.Ranking.Features.ItemFeatureTable>() is not { } table || table.Current is not null;

    private static async Task<RecommendationResponse> AskAsync(HttpClient client, RecordedRetrieval retrieval, Request request)
    {
        retrieval.Next = request.Payload;
        var answer = await client.GetFromJsonAsync<RecommendationResponse>($"/v1/recommendations/{request.User}?count=20", JsonDefaults.Options)
            ?? throw new InvalidOperationException("Empty answer.");
        if (answer.Metadata.Degraded.Count > 0)
        {
            throw new InvalidOperationException($"Request for {request.User} was degraded: {string.Join(",", answer.Metadata.Degraded)}.");
        }

        return answer;
    }

    private static void WriteResults(string file, Request[] workload, RecommendationResponse[] answers)
    {
        var text = new StringBuilder();
        for (var q = 0; q < answers.Length; q++)
        {
            text.Append(q.ToString(CultureInfo.InvariantCulture)).Append('\t').Append(workload[q].User);
            foreach (var item in answers[q].Items)
            {
                text.Append('\t').Append(item.ItemId).Append(':').Append(item.Score.ToString("R", CultureInfo.InvariantCulture))
                    .Append(':').Append(string.Join('+', item.Sources));
            }

            text.AppendLine();
        }

        File.WriteAllText(file, text.ToString());
    }

    /// <summary>The decoder alone, on this process's clock: what a payload costs to turn into candidates.</summary>
    private static void MeasureDecoding(ReadOnlySpan<Request> workload)
    {
        for (var i = 0; i < Math.Min(20, workload.Length); i++)
        {
            _ = CandidateWireFormat.Read(workload[i].Payload);
        }

        var cpu = CpuClocks.ProcessMilliseconds();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        foreach (var request in workload)
        {
            _ = CandidateWireFormat.Read(request.Payload);
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"CandidateWireFormat.Read alone: {(CpuClocks.ProcessMilliseconds() - cpu) / workload.Length:F2} CPU-ms and {(GC.GetTotalAllocatedBytes(precise: true) - allocated) / 1024.0 / workload.Length:F0} KB per payload"));
    }

    /// <summary>Each request: a user and distinct random catalog items with random scores and source sets, encoded once by the real encoder.</summary>
    private static Request[] BuildWorkload(string[] catalog, int candidateCount, int requests, int seed)
    {
        var random = new Random(seed);
        var workload = new Request[requests];
        // Shared lists per source set, in the table's order, as fusion hands them out.
        var sets = new IReadOnlyList<string>[1 << SourceNames.Length];
        for (var mask = 1; mask < sets.Length; mask++)
        {
            sets[mask] = [.. SourceNames.Where((_, bit) => (mask & (1 << bit)) != 0)];
        }

        for (var q = 0; q < requests; q++)
        {
            var user = $"u{random.Next(1_000)}";
            var chosen = new HashSet<int>();
            var candidates = new List<CandidateDto>(candidateCount);
            while (candidates.Count < candidateCount)
            {
                var item = random.Next(catalog.Length);
                if (chosen.Add(item))
                {
                    candidates.Add(new CandidateDto(catalog[item], Math.Round(random.NextDouble(), 6), sets[1 + random.Next(sets.Length - 1)]));
                }
            }

            candidates.Sort((a, b) => b.Score.CompareTo(a.Score));
            var reports = SourceNames.Select(s => new SourceReport(s, candidateCount / 2, 3.5, false, null)).ToArray();
            var response = new CandidateResponse(user, candidates, reports, [], 12.5) { IndexCoverage = 1.0 };
            var encoded = CandidateWireFormat.TryEncode(response) ?? throw new InvalidOperationException("The workload does not fit the wire format.");
            var buffer = new ArrayBufferWriter<byte>(encoded.Length);
            encoded.WriteTo(buffer);
            workload[q] = new Request(user, buffer.WrittenSpan.ToArray());
        }

        return workload;
    }

    private static string SystemLine()
    {
        var model = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
        return $"CPU {model}, {Environment.ProcessorCount} cores, load average {File.ReadAllText("/proc/loadavg").Trim()}";
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "RecSys.sln")))
            {
                return dir.FullName;
            }
        }

        return Directory.GetCurrentDirectory();
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }

        foreach (var dir in Directory.EnumerateDirectories(from))
        {
            CopyDirectory(dir, Path.Combine(to, Path.GetFileName(dir)));
        }
    }

    private sealed record Request(string User, byte[] Payload);

    /// <summary>Answers Retrieval's call with the payload set for the request in flight (requests run one at a time).</summary>
    private sealed class RecordedRetrieval : HttpMessageHandler
    {
        public byte[] Next { get; set; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var content = new ByteArrayContent(Next);
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(CandidateWireFormat.MediaType);
            content.Headers.ContentLength = Next.Length;
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = content });
        }
    }

    /// <summary>Takes the impression batches as the FeatureServer would (their JSON is written, as in production) and accepts them all.</summary>
    private sealed class ImpressionSink : HttpMessageHandler
    {
        private long _batches;
        private long _bytes;

        public long Batches => Interlocked.Read(ref _batches);

        public long Bytes => Interlocked.Read(ref _bytes);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? [] : await request.Content.ReadAsByteArrayAsync(cancellationToken);
            Interlocked.Increment(ref _batches);
            Interlocked.Add(ref _bytes, body.Length);
            // A null body: the logger counts the whole batch as accepted.
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("null", Encoding.UTF8, "application/json") };
        }
    }

    /// <summary>Sums the long counters of one meter (by instrument name) while it lives.</summary>
    private sealed class CounterTotals : IDisposable
    {
        private readonly System.Diagnostics.Metrics.MeterListener _listener = new();
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _totals = new(StringComparer.Ordinal);

        public CounterTotals(string meterName)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == meterName && instrument is System.Diagnostics.Metrics.Counter<long>)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => _totals.AddOrUpdate(instrument.Name, value, (_, total) => total + value));
            _listener.Start();
        }

        public IReadOnlyDictionary<string, long> Totals => _totals;

        public void Dispose() => _listener.Dispose();
    }

    /// <summary>The runtime's allocation-tick events summed by type: where the allocated bytes go, to ~100 KB per sample.</summary>
    private sealed class AllocationTicks : System.Diagnostics.Tracing.EventListener
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _totals = new(StringComparer.Ordinal);

        public IReadOnlyDictionary<string, long> Totals => _totals;

        protected override void OnEventSourceCreated(System.Diagnostics.Tracing.EventSource eventSource)
        {
            if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
            {
                // The GC keyword at verbose level carries GCAllocationTick.
                EnableEvents(eventSource, System.Diagnostics.Tracing.EventLevel.Verbose, (System.Diagnostics.Tracing.EventKeywords)0x1);
            }
        }

        protected override void OnEventWritten(System.Diagnostics.Tracing.EventWrittenEventArgs eventData)
        {
            if (eventData.EventName is not { } name || !name.StartsWith("GCAllocationTick", StringComparison.Ordinal) || eventData.PayloadNames is null)
            {
                return;
            }

            var type = eventData.PayloadNames.IndexOf("TypeName") is var t and >= 0 ? eventData.Payload![t] as string ?? "?" : "?";
            var amount = eventData.PayloadNames.IndexOf("AllocationAmount64") is var a and >= 0 ? Convert.ToInt64(eventData.Payload![a], CultureInfo.InvariantCulture) : 0;
            _totals.AddOrUpdate(type, amount, (_, total) => total + amount);
        }
    }

    private sealed class FixedNowTimeProvider(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
