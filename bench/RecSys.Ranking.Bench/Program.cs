using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RecSys.Bench.Common;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.Registry;
using RecSys.FeatureStore.Serving;
using RecSys.Ranking.Bench;
using RecSys.Ranking.Features;
using RecSys.Ranking.Models;
using RecSys.Ranking.PostProcessing;
using RecSys.Ranking.Serving;
using StackExchange.Redis;

var commandLine = new BenchCommandLine("dotnet run -c Release --project bench/RecSys.Ranking.Bench -- [options]")
    .Option("--items", "N", "catalog size (default 100000)")
    .Option("--users", "N", "users (default 1000)")
    .Option("--dim", "N", "embedding dimensions (default 16, as the seeded world's ALS)")
    .Option("--candidates", "N", "candidates per request (default 5000)")
    .Option("--requests", "N", "requests per pass (default 200)")
    .Option("--rounds", "N", "rounds; each runs one pass of every variant, alternating (default 3)")
    .Option("--variants", "LIST", "onnxruntime, compiled (pre-ranker engines) and/or compiled-values (compiled trees, rows from the item values instead of the item table's records), comma separated (default onnxruntime,compiled)")
    .Option("--release-root", "DIR", "where the trained release is kept (default /tmp/recsys-ranking-bench/releases)")
    .Option("--train-users", "N", "lists of 50 items in the training set (default 2500)")
    .Option("--results", "FILE", "writes every request's served list (item and score, per variant) here, to compare builds")
    .Option("--seed", "N", "world seed (default 7)")
    .Option("--pre-rows", "FILE", "writes one request's pre-ranker rows here (little-endian float32, row-major), to time tree kernels of two builds on the same rows")
    .Flag("--retrain", "train the release even when one is there");
return await commandLine.RunAsync(args, async options =>
{
    var items = options.GetInt("--items", 100_000);
    var users = options.GetInt("--users", 1_000);
    var dimensions = options.GetInt("--dim", 16);
    var candidateCount = options.GetInt("--candidates", 5_000);
    var requests = options.GetInt("--requests", 200);
    var rounds = options.GetInt("--rounds", 3);
    var seed = options.GetInt("--seed", 7);
    var variants = options.GetString("--variants", "onnxruntime,compiled").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    ParsedArguments.Require(variants.Length > 0 && variants.All(v => v is "onnxruntime" or "compiled" or "compiled-values"), "--variants takes onnxruntime, compiled and/or compiled-values.");
    ParsedArguments.Require(items >= candidateCount && candidateCount > 0 && requests > 0 && rounds > 0 && users > 0, "Sizes must be positive, with --items >= --candidates.");
    var root = options.GetString("--release-root", "/tmp/recsys-ranking-bench/releases");

    var now = new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
    var clock = Stopwatch.StartNew();
    var world = new BenchWorld(items, users, dimensions, seed, now);
    Console.WriteLine($"world: {items:N0} items, {users:N0} users, d={dimensions} ({clock.Elapsed.TotalSeconds:F1} s)");
    BenchRelease.Ensure(root, world, options.GetInt("--train-users", 2_500), 50, options.Has("--retrain"), seed);

    // The item table reads the catalog's ids from Garnet's items:all, and the values from the world.
    using var server = RespServer.Start(RespServerKind.GarnetInProcess);
    using var redis = await server.ConnectAsync();
    foreach (var chunk in world.ItemIds.Chunk(10_000))
    {
        await redis.GetDatabase().SetAddAsync(OnlineKeys.AllItems, [.. chunk.Select(id => (RedisValue)id)]);
    }

    using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    var meters = services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
    var time = TimeProvider.System;
    var registry = new FeatureRegistry();
    var store = new WorldFeatureStore(world);
    var providerOptions = Options.Create(new RankingFeatureProviderOptions { MaxCandidates = Math.Max(5_000, candidateCount) });
    var table = new ItemFeatureTable(store, new ItemCatalogReader(redis), registry, providerOptions, time, meters);
    var snapshot = await table.RefreshAsync(CancellationToken.None);
    Console.WriteLine($"item table: {snapshot.Count:N0} items ({clock.Elapsed.TotalSeconds:F1} s)");
    var provider = new FeatureStoreRankingFeatureProvider(store, registry, providerOptions, time, meters, table);
    var pipeline = new PostProcessingPipeline(Options.Create(new PostProcessingOptions()));
    var inputs = new WorldPostProcessingInputs(world);
    var telemetry = new RankingTelemetry(meters);

    var served = new List<(string Name, TwoStageRanker Ranker, RankerReleaseManager Manager)>();
    foreach (var name in variants)
    {
        var modelOptions = new RankingModelOptions { Path = root, ExecutionProvider = ExecutionProviderPreference.Cpu };
        // Set by name: a build from before compiled trees has no such option (and serves the ONNX Runtime path either way).
        typeof(RankingModelOptions).GetProperty("CompileTreeEnsembles")?.SetValue(modelOptions, name != "onnxruntime");

        // Rows from the item values (the general path) for compiled-values; a build before the item records has only that path.
        var variantOptions = new RankingFeatureProviderOptions { MaxCandidates = providerOptions.Value.MaxCandidates };
        typeof(RankingFeatureProviderOptions).GetProperty("UseItemColumns")?.SetValue(variantOptions, name != "compiled-values");
        var variantProvider = new FeatureStoreRankingFeatureProvider(store, registry, Options.Create(variantOptions), time, meters, table);
        var monitor = new FixedOptions<RankingModelOptions>(modelOptions);
        var providers = new ExecutionProviderSelector(modelOptions, NullLogger<ExecutionProviderSelector>.Instance);
        var loader = new RankerReleaseLoader(providers, variantProvider, time, NullLogger<RankerReleaseLoader>.Instance, meters, telemetry);
        var manager = new RankerReleaseManager(loader, monitor, providers, NullLogger<RankerReleaseManager>.Instance, telemetry);
        ParsedArguments.Require(manager.Refresh(), $"The release under {root} did not load: {manager.LastError}");
        using (var lease = Acquire(manager))
        {
            var pre = lease.Release.PreRanker;
            var engine = typeof(RankerModel).GetProperty("Engine")?.GetValue(pre) ?? "onnxruntime (this build has no other)";
            var refusal = typeof(RankerModel).GetProperty("CompileRefusal")?.GetValue(pre);
            var difference = typeof(RankerModel).GetProperty("CompiledMaxDifference")?.GetValue(pre);
            Console.WriteLine($"variant {name}: pre-ranker {pre.Width} features scored by {engine}" +
                (difference is null ? "" : $", max |compiled - ORT| on verification rows {difference}") + (refusal is null ? "" : $", refused: {refusal}") +
                $"; main ranker {lease.Release.MainStage.Width} features; {lease.Release.Columns.Count} columns fetched");
        }

        served.Add((name, new TwoStageRanker(manager, variantProvider, monitor, time, telemetry, null, pipeline, inputs), manager));
    }

    // Requests: a user and ~5,000 distinct candidates each (as Retrieval's fused list), the same for every variant.
    var random = new Random(seed + 1);
    var sources = new[] { "collaborative", "trending" };
    var workload = new (RankingQuery Query, RankingCandidate[] Candidates)[requests];
    for (var q = 0; q < requests; q++)
    {
        var user = world.UserIds[random.Next(users)];
        var chosen = new HashSet<int>();
        while (chosen.Count < candidateCount)
        {
            chosen.Add(random.Next(items));
        }

        workload[q] = (new RankingQuery(user, null, now), [.. chosen.Select(i => new RankingCandidate(world.ItemIds[i], random.NextDouble(), sources))]);
    }

    // Same lists from every variant: order, main-stage and pre-rank scores of every returned item.
    var lists = new Dictionary<string, List<RankedCandidate[]>>(StringComparer.Ordinal);
    foreach (var (name, ranker, _) in served)
    {
        var results = new List<RankedCandidate[]>(requests);
        foreach (var (query, candidates) in workload)
        {
            var result = await ranker.RankAsync(query, candidates, 20, CancellationToken.None) ?? throw new InvalidOperationException("No release served.");
            results.Add([.. result.Items]);
        }

        lists[name] = results;
    }

    if (served.Count > 1)
    {
        var (a, b) = (lists[served[0].Name], lists[served[1].Name]);
        var sameOrder = 0;
        var worst = 0.0;
        for (var q = 0; q < requests; q++)
        {
            sameOrder += a[q].Select(c => c.Index).SequenceEqual(b[q].Select(c => c.Index)) ? 1 : 0;
            for (var k = 0; k < Math.Min(a[q].Length, b[q].Length); k++)
            {
                worst = Math.Max(worst, Math.Max(Math.Abs(a[q][k].Score - b[q][k].Score), Math.Abs(a[q][k].PreRankScore - b[q][k].PreRankScore)));
            }
        }

        Console.WriteLine($"served lists: {sameOrder} of {requests} in the same order across variants; largest score difference {worst:G3}");
    }

    if (options.GetStringOrNull("--results") is { } resultsFile)
    {
        var text = new StringBuilder();
        foreach (var (name, results) in lists)
        {
            for (var q = 0; q < requests; q++)
            {
                text.Append(name).Append('\t').Append(q.ToString(CultureInfo.InvariantCulture));
                foreach (var item in results[q])
                {
                    text.Append('\t').Append(workload[q].Candidates[item.Index].ItemId).Append(':')
                        .Append(item.Score.ToString("R", CultureInfo.InvariantCulture)).Append(':')
                        .Append(item.PreRankScore.ToString("R", CultureInfo.InvariantCulture));
                }

                text.AppendLine();
            }
        }

        File.WriteAllText(resultsFile, text.ToString());
        Console.WriteLine($"served lists written to {resultsFile}");
    }

    // The pre-ranker alone over one request's rows: ORT's path against the compiled one (same session objects as served).
    foreach (var (name, _, manager) in served)
    {
        using var lease = Acquire(manager);
        var pre = lease.Release.PreRanker;
        var rows = new float[candidateCount * pre.Width];
        using (var matrix = await provider.FetchAsync(workload[0].Query, workload[0].Candidates, lease.Release.Columns, CancellationToken.None))
        {
            for (var r = 0; r < candidateCount; r++)
            {
                lease.Release.ProjectPreRanker(matrix.Row(r), rows.AsSpan(r * pre.Width, pre.Width));
            }
        }

        var fetchAllocated = GC.GetTotalAllocatedBytes(precise: true);
        using (var again = await provider.FetchAsync(workload[1].Query, workload[1].Candidates, lease.Release.Columns, CancellationToken.None))
        {
            fetchAllocated = GC.GetTotalAllocatedBytes(precise: true) - fetchAllocated;
        }

        Console.WriteLine($"feature fetch of one request allocates {fetchAllocated / 1024.0:F0} KB");
        if (options.GetStringOrNull("--pre-rows") is { } preRowsFile)
        {
            File.WriteAllBytes(preRowsFile, System.Runtime.InteropServices.MemoryMarshal.AsBytes(rows.AsSpan()).ToArray());
            Console.WriteLine($"pre-ranker rows ({candidateCount:N0} x {pre.Width}) written to {preRowsFile}, model {Path.Combine(pre.Directory, "model.onnx")}");
        }

        var scores = new float[candidateCount];
        pre.Score(rows, scores);
        var watch = Stopwatch.StartNew();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var repeats = 0;
        while (watch.Elapsed < TimeSpan.FromSeconds(2))
        {
            pre.Score(rows, scores);
            repeats++;
        }

        var spent = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        Console.WriteLine($"pre-ranker only, {name}: {spent.TotalMilliseconds / repeats:F2} CPU-ms per {candidateCount:N0} rows ({spent.TotalMilliseconds * 1e6 / repeats / candidateCount:F0} ns per row), {repeats} runs");

        // The compiled trees' two QuickScorer widths side by side on the same rows.
        var compiledTrees = CompiledTreeEnsemble.TryCompile(Path.Combine(pre.Directory, "model.onnx"), pre.Width, out _);
        if (compiledTrees is not null)
        {
            var narrow = new float[candidateCount];
            var wide = new float[candidateCount];
            var perWidth = new Dictionary<bool, List<double>> { [false] = [], [true] = [] };
            for (var round = 0; round < 6; round++)
            {
                foreach (var allowWide in round % 2 == 0 ? new[] { false, true } : [true, false])
                {
                    var into = allowWide ? wide : narrow;
                    var before = Process.GetCurrentProcess().TotalProcessorTime;
                    for (var run = 0; run < 100; run++)
                    {
                        compiledTrees.TryScoreQuickScorer(rows, into, allowWide);
                    }

                    perWidth[allowWide].Add((Process.GetCurrentProcess().TotalProcessorTime - before).TotalMilliseconds / 100);
                }
            }

            var same = narrow.AsSpan().SequenceEqual(wide) && narrow.AsSpan().SequenceEqual(scores);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"pre-ranker QuickScorer, {name} ({compiledTrees.Method}): 256-bit {string.Join(" / ", perWidth[false].Select(v => v.ToString("F3", CultureInfo.InvariantCulture)))} CPU-ms, " +
                $"512-bit {string.Join(" / ", perWidth[true].Select(v => v.ToString("F3", CultureInfo.InvariantCulture)))} CPU-ms per {candidateCount:N0} rows; same scores bit for bit: {same}"));
        }
    }

    Console.WriteLine();
    Console.WriteLine($"| pass | CPU-ms/request (process) | feature fetch | pre-rank | main rank | post-process | wall ms/request | allocated KB/request | gen0/1/2 GCs |");
    Console.WriteLine($"|---|---:|---:|---:|---:|---:|---:|---:|---|");
    var summary = served.ToDictionary(s => s.Name, _ => new List<double>(), StringComparer.Ordinal);
    for (var round = 0; round < rounds; round++)
    {
        foreach (var (name, ranker, _) in served)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            var process = Process.GetCurrentProcess();
            var cpu = process.TotalProcessorTime;
            var allocated = GC.GetTotalAllocatedBytes(precise: true);
            var gcs = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
            var watch = Stopwatch.StartNew();
            double fetch = 0, preRank = 0, main = 0, post = 0;
            foreach (var (query, candidates) in workload)
            {
                var result = await ranker.RankAsync(query, candidates, 20, CancellationToken.None) ?? throw new InvalidOperationException("No release served.");
                fetch += result.FeatureFetch.TotalMilliseconds;
                preRank += result.PreRank.TotalMilliseconds;
                main += result.MainRank.TotalMilliseconds;
                post += result.PostProcess.TotalMilliseconds;
            }

            var wall = watch.Elapsed.TotalMilliseconds;
            process.Refresh();
            var spent = (process.TotalProcessorTime - cpu).TotalMilliseconds / requests;
            var bytes = (GC.GetTotalAllocatedBytes(precise: true) - allocated) / 1024.0 / requests;
            summary[name].Add(spent);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} #{round + 1} | {spent:F2} | {fetch / requests:F2} | {preRank / requests:F2} | {main / requests:F2} | {post / requests:F2} | {wall / requests:F2} | {bytes:F0} | {GC.CollectionCount(0) - gcs.Item1}/{GC.CollectionCount(1) - gcs.Item2}/{GC.CollectionCount(2) - gcs.Item3} |"));
        }
    }

    Console.WriteLine();
    foreach (var (name, spent) in summary)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}: median {spent.Order().ElementAt(spent.Count / 2):F2} CPU-ms per request over {rounds} passes of {requests}"));
    }

    Console.WriteLine($"stage columns: wall ms per request from TwoStageResult (one request at a time, so close to CPU on the request's thread; main rank also waits for the batcher)");
    foreach (var (_, _, manager) in served)
    {
        await manager.DisposeAsync();
    }

    return 0;
});

static ReleaseLease Acquire(RankerReleaseManager manager) =>
    manager.TryAcquire(out var lease) ? lease : throw new InvalidOperationException("No release is loaded.");

/// <summary>Options that never change.</summary>
internal sealed class FixedOptions<T>(T value) : IOptionsMonitor<T>
{
    public T CurrentValue => value;

    public T Get(string? name) => value;

    public IDisposable? OnChange(Action<T, string?> listener) => null;
}
