using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Garnet;
using Microsoft.Extensions.DependencyInjection;
using RecSys.Bench.Common;
using RecSys.FeatureStore.Serving;
using RecSys.Retrieval.Bench;
using RecSys.Retrieval.VectorIndex;
using RecSys.Trainer.Generation;
using StackExchange.Redis;

var commandLine = new BenchCommandLine("dotnet bench/RecSys.Retrieval.Bench/bin/Release/net10.0/RecSys.Retrieval.Bench.dll MODE [options]")
    .Positionals(3, "MODE: store (host Garnet until killed) | seed (world + index into --store and --index-dir) | run | compare A.digest B.digest")
    .Option("--port", "P", "store: port to listen on (default 6480)")
    .Option("--memory", "SIZE", "store: Garnet's --memory (default 4g)")
    .Option("--store", "HOST:PORT", "seed, run: the store (default 127.0.0.1:6480)")
    .Option("--index-dir", "DIR", "seed, run: where the index snapshots live (default /tmp/retcost/index)")
    .Option("--items", "N", "seed, run: catalog size (default 100000)")
    .Option("--users", "N", "seed, run: users (default 1000)")
    .Option("--events-per-user", "N", "seed: mean events per user (default 100)")
    .Option("--dim", "D", "seed, run: embedding dimension (default 16)")
    .Option("--requests", "N", "run: measured requests (default 300)")
    .Option("--warmup", "N", "run: unmeasured requests first (default 200)")
    .Option("--rate", "R", "run: requests per second, one at a time (default 50)")
    .Option("--count", "N", "run: candidates asked per request (default 5000)")
    .Option("--recall-users", "N", "run: users of the recall check of the collaborative search (default 0: none)")
    .Flag("--no-stages", "run: end to end only (for profiling)")
    .Flag("--service", "run: through the service's real web host (POST /v1/candidates on the test server) instead of the retriever")
    .Option("--kestrel", "PORT", "run --service: serve on Kestrel at 127.0.0.1:PORT and call it over a socket (default: the in-memory test server)")
    .Flag("--commands", "run: count the retriever's store commands per request, by command")
    .Flag("--allocations", "run: sample the end-to-end loop's allocations by type")
    .Option("--digest", "FILE", "run: write each response's digest and ids here")
    .Option("--json", "FILE", "run: write the figures here")
    .Option("--label", "NAME", "run: name of the build in the output (default current)")
    .Option("--set", "K=V;K=V", "run: settings of the service, e.g. Retrieval:VectorIndex:Collaborative:EfSearch=800");

return await commandLine.RunAsync(args, async a =>
{
    var mode = a.Positional(0, "run");
    var store = a.GetString("--store", "127.0.0.1:6480");
    var indexDir = Path.GetFullPath(a.GetString("--index-dir", "/tmp/retcost/index"));
    var items = a.GetInt("--items", 100_000);
    var users = a.GetInt("--users", 1_000);
    var dim = a.GetInt("--dim", 16);
    switch (mode)
    {
        case "store":
            return await StoreAsync(a.GetInt("--port", 6480), a.GetString("--memory", "4g"));
        case "seed":
            return await SeedAsync(store, indexDir, BenchWorld.Options(items, users, a.GetDouble("--events-per-user", 100), dim));
        case "compare":
            return Compare(a.Positional(1, ""), a.Positional(2, ""));
        case "run":
            var extra = new Dictionary<string, string?>();
            foreach (var set in (a.GetStringOrNull("--set") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = set.IndexOf('=', StringComparison.Ordinal);
                ParsedArguments.Require(eq > 0, "--set takes KEY=VALUE pairs separated by ';'");
                extra[set[..eq]] = set[(eq + 1)..];
            }

            var settings = new CostSettings(users, a.GetInt("--requests", 300), a.GetInt("--warmup", 200), a.GetDouble("--rate", 50),
                a.GetInt("--count", 5000), a.GetInt("--recall-users", 0), !a.Has("--no-stages"), a.Has("--allocations"),
                a.GetInt("--kestrel", 0), a.Has("--commands"));
            return a.Has("--service")
                ? await ServiceAsync(store, indexDir, dim, settings, a.GetStringOrNull("--digest"), a.GetStringOrNull("--json"), a.GetString("--label", "current"), extra)
                : await RunAsync(store, indexDir, dim, settings, a.GetStringOrNull("--digest"), a.GetStringOrNull("--json"), a.GetString("--label", "current"), extra);
        default:
            throw new BenchCommandLineException($"Unknown mode '{mode}'.");
    }
});

static async Task<int> StoreAsync(int port, string memory)
{
    using var server = new GarnetServer(["--bind", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture), "--lua", "true", "--memory", memory]);
    server.Start();
    Console.WriteLine($"store listening on 127.0.0.1:{port}");
    await Task.Delay(Timeout.Infinite);
    return 0;
}

static async Task<int> SeedAsync(string store, string indexDir, WorldOptions options)
{
    var clock = Stopwatch.StartNew();
    var world = SyntheticWorld.Build(options);
    using (var redis = await ConnectionMultiplexer.ConnectAsync(store + ",allowAdmin=true,syncTimeout=60000,asyncTimeout=60000"))
    {
        await redis.GetServers()[0].FlushAllDatabasesAsync();
        var (items, events) = await BenchWorld.ApplyAsync(redis, world, Console.Out);
        Console.WriteLine($"world applied: {items:N0} items, {events:N0} events ({clock.Elapsed.TotalSeconds:N0} s)");
        await BenchWorld.StoreEmbeddingsAsync(new EmbeddingStore(redis), world, BenchWorld.EmbeddingVersion(options.Dimensions), CancellationToken.None);
        Console.WriteLine($"embedding version {BenchWorld.EmbeddingVersion(options.Dimensions)} stored ({clock.Elapsed.TotalSeconds:N0} s)");
    }

    if (Directory.Exists(indexDir))
    {
        Directory.Delete(indexDir, recursive: true);
    }

    Directory.CreateDirectory(indexDir);
    using var host = BenchHost.Build(store, options.Dimensions, indexDir);
    await host.StartAsync();
    var manager = host.Services.GetRequiredService<VectorIndexManager>();
    var status = await manager.ActivateAsync(BenchWorld.EmbeddingVersion(options.Dimensions));
    Console.WriteLine($"index activation: {status.State}, {status.Items:N0} items, recall@10 {status.Recall:F3} ({clock.Elapsed.TotalSeconds:N0} s)");
    await host.StopAsync();
    return status.State == ActivationState.Activated ? 0 : 1;
}

static async Task<int> RunAsync(string store, string indexDir, int dim, CostSettings settings, string? digestPath, string? jsonPath, string label, Dictionary<string, string?> extra)
{
    using var host = BenchHost.Build(store, dim, indexDir, extra);
    await host.StartAsync();
    await BenchHost.WaitForIndexAsync(host.Services.GetRequiredService<VectorIndexManager>(), BenchWorld.EmbeddingVersion(dim), TimeSpan.FromMinutes(5));
    Console.WriteLine($"[{label}] index loaded; {settings.Requests} requests for {settings.Count} candidates at {settings.Rate} req/s (warm-up {settings.Warmup})");
    await using var digest = digestPath is null ? null : new StreamWriter(digestPath);
    var report = await new CostRun(host.Services, settings, Console.Out).RunAsync(digest, CancellationToken.None);
    Console.WriteLine($"[{label}] CPU-ms per request by stage (each stage alone):");
    foreach (var (stage, ms) in report.StageCpuMsPerRequest)
    {
        Console.WriteLine($"  {stage,-28} {ms,8:F3}");
    }

    if (jsonPath is not null)
    {
        await File.WriteAllTextAsync(jsonPath, JsonSerializer.Serialize(new { label, report }, new JsonSerializerOptions { WriteIndented = true }));
    }

    await host.StopAsync();
    return 0;
}

static async Task<int> ServiceAsync(string store, string indexDir, int dim, CostSettings settings, string? digestPath, string? jsonPath, string label, Dictionary<string, string?> extra)
{
    Console.WriteLine($"[{label}] service path: {settings.Requests} requests for {settings.Count} candidates at {settings.Rate} req/s (warm-up {settings.Warmup})");
    await using var digest = digestPath is null ? null : new StreamWriter(digestPath);
    var report = await new ServiceRun(settings, Console.Out).RunAsync(store, dim, indexDir, extra, digest, CancellationToken.None);
    if (jsonPath is not null)
    {
        await File.WriteAllTextAsync(jsonPath, JsonSerializer.Serialize(new { label, report }, new JsonSerializerOptions { WriteIndented = true }));
    }

    return 0;
}

static int Compare(string a, string b)
{
    ParsedArguments.Require(File.Exists(a) && File.Exists(b), "compare takes two digest files");
    var left = File.ReadAllLines(a);
    var right = File.ReadAllLines(b);
    var same = 0;
    var overlap = 0.0;
    var overlapTop = 0.0;
    var n = Math.Min(left.Length, right.Length);
    for (var i = 0; i < n; i++)
    {
        var l = left[i].Split('\t');
        var r = right[i].Split('\t');
        if (l[0] != r[0])
        {
            throw new BenchCommandLineException($"Line {i + 1}: user {l[0]} against {r[0]}: not the same request sequence.");
        }

        if (l[1] == r[1] && l[2] == r[2])
        {
            same++;
        }

        var li = l[3].Split(',');
        var ri = r[3].Split(',');
        overlap += li.Intersect(ri).Count() / (double)Math.Max(1, Math.Max(li.Length, ri.Length));
        var top = Math.Min(500, Math.Min(li.Length, ri.Length));
        overlapTop += li.Take(top).Intersect(ri.Take(top)).Count() / (double)Math.Max(1, top);
    }

    Console.WriteLine($"{same} of {n} responses identical (ids, order, score bits, sources); mean candidate-set overlap {overlap / Math.Max(1, n):F4}, of the first 500 {overlapTop / Math.Max(1, n):F4}");
    return same == n && left.Length == right.Length ? 0 : 1;
}
