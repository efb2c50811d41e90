using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Cloud.Unum.USearch;
using RecSys.Bench.Common;
using RecSys.VectorSearch;
using RecSys.VectorSearch.Bench;
using Spectre.Console;

if (!BenchOptions.BenchCommandLine.TryRead(args, BenchOptions.Parse, out var opt, out var exitCode))
{
    return exitCode;
}

if (opt.PlanCrossover)
{
    PlanCrossover.Run(opt);
    return 0;
}

var rows = new List<ResultRow>();
var outDir = Path.GetFullPath(opt.OutDir);
Directory.CreateDirectory(outDir);
var inv = CultureInfo.InvariantCulture;
AnsiConsole.MarkupLine($"[bold]RecSys.VectorSearch bench[/]  kernel={VectorKernels.Active}  cores={Environment.ProcessorCount}  out={Markup.Escape(outDir)}");

float[] data = [], queries = [];
int dim = opt.Dim, n = 0, nq = 0;
int[] gt = [];
var total = Stopwatch.StartNew();

Step("data + exact ground truth", () =>
{
    if (opt.BaseFile is not null)
    {
        (data, dim) = Datasets.Read(opt.BaseFile);
        (queries, _) = opt.QueryFile is not null ? Datasets.Read(opt.QueryFile) : (data.AsSpan(0, Math.Min(opt.Queries, data.Length / dim) * dim).ToArray(), dim);
        if (opt.N < data.Length / dim) data = data.AsSpan(0, opt.N * dim).ToArray();
        for (var i = 0; i < data.Length / dim; i++) VectorKernels.Normalize(data.AsSpan(i * dim, dim));
        for (var i = 0; i < queries.Length / dim; i++) VectorKernels.Normalize(queries.AsSpan(i * dim, dim));
    }
    else
    {
        data = Datasets.LowRankPlusNoise(opt.N, dim, opt.Rank, opt.Noise, opt.Seed);
        queries = Datasets.LowRankPlusNoise(opt.Queries, dim, opt.Rank, opt.Noise, opt.Seed, rowOffset: opt.N);
    }
    n = data.Length / dim;
    nq = queries.Length / dim;
    gt = Datasets.GroundTruth(data, queries, dim, opt.K);
    Datasets.WriteFvecs(Path.Combine(outDir, "base.fvecs"), data, dim);
    Datasets.WriteFvecs(Path.Combine(outDir, "query.fvecs"), queries, dim);
    Datasets.WriteIvecs(Path.Combine(outDir, "gt.ivecs"), gt, opt.K);
    return $"{n} x {dim}, {nq} queries";
});

var ids = new long[n];
for (var i = 0; i < n; i++) ids[i] = i;
HnswIndex? index = null;

Step($"RecSys HNSW build (M={opt.M}, efC={opt.EfConstruction}, {opt.Threads} threads)", () =>
{
    var sw = Stopwatch.StartNew();
    index = new HnswIndex(new HnswOptions { Dimension = dim, Metric = Metric.InnerProduct, M = opt.M, EfConstruction = opt.EfConstruction, InitialCapacity = n });
    index.AddBatch(ids, data, opt.Threads);
    var secs = sw.Elapsed.TotalSeconds;
    rows.Add(new ResultRow("recsys-hnsw", "build", 0, 0, 0, 0, secs, index.MemoryBytes / (double)n, $"{n / secs:F0} vectors/s"));
    return $"{secs:F1} s ({n / secs:F0}/s), {index.MemoryBytes / (double)n:F0} B/vector";
});

foreach (var ef in opt.Efs)
{
    Step($"RecSys HNSW search ef={ef}", () =>
    {
        var r = Measure(q => index!.Search(queries.AsSpan(q * dim, dim), opt.K, ef));
        rows.Add(new ResultRow("recsys-hnsw", "search", ef, r.Recall, r.QpsWall, r.QpsCpu, 0, 0, "", r.QpsMedian));
        return r.ToString();
    });
}

if (opt.Pq)
{
    ProductQuantizer? pq = null;
    Step($"PQ train ({opt.PqSegments} x 8 bit)", () =>
    {
        var sw = Stopwatch.StartNew();
        pq = ProductQuantizer.Train(data, dim, new PqOptions { Segments = opt.PqSegments, Seed = opt.Seed });
        return $"{sw.Elapsed.TotalSeconds:F1} s";
    });
    PqIndex? graphPq = null, flatPq = null;
    Step("PQ encode (graph + flat)", () =>
    {
        var sw = Stopwatch.StartNew();
        graphPq = PqIndex.BuildOnGraph(pq!, index!);
        var mappedPath = Path.Combine(outDir, "vectors.rsvs");
        MappedVectorFile.Write(mappedPath, data, dim);
        flatPq = PqIndex.BuildFlat(pq!, ids, data, Metric.InnerProduct, MappedVectorFile.Open(mappedPath));
        rows.Add(new ResultRow("recsys-pq-graph", "build", 0, 0, 0, 0, sw.Elapsed.TotalSeconds, graphPq.ResidentBytesPerVector, $"{graphPq.CodeBytesPerVector} B codes + links"));
        rows.Add(new ResultRow("recsys-pq-flat", "build", 0, 0, 0, 0, sw.Elapsed.TotalSeconds, flatPq.ResidentBytesPerVector, $"{flatPq.CodeBytesPerVector} B codes + id; full vectors memory-mapped"));
        return $"{sw.Elapsed.TotalSeconds:F1} s";
    });
    foreach (var ef in opt.Efs.Where(e => e >= 32))
    {
        Step($"PQ graph ef={ef} (no re-rank)", () =>
        {
            var r = Measure(q => graphPq!.Search(queries.AsSpan(q * dim, dim), opt.K, rerank: 0, ef: ef));
            rows.Add(new ResultRow("recsys-pq-graph", "search", ef, r.Recall, r.QpsWall, r.QpsCpu, 0, 0, "rerank 0", r.QpsMedian));
            return r.ToString();
        });
        foreach (var rr in opt.Reranks.Where(x => x <= Math.Max(ef, opt.K)))
        {
            Step($"PQ graph ef={ef} re-rank {rr}", () =>
            {
                var r = Measure(q => graphPq!.Search(queries.AsSpan(q * dim, dim), opt.K, rerank: rr, ef: ef));
                rows.Add(new ResultRow("recsys-pq-graph", "search", ef, r.Recall, r.QpsWall, r.QpsCpu, 0, 0, $"rerank {rr}", r.QpsMedian));
                return r.ToString();
            });
        }
    }
    foreach (var rr in new[] { 0 }.Concat(opt.Reranks))
    {
        Step($"PQ flat scan re-rank {rr}", () =>
        {
            var r = Measure(q => flatPq!.Search(queries.AsSpan(q * dim, dim), opt.K, rerank: rr), maxQueries: 200);
            rows.Add(new ResultRow("recsys-pq-flat", "search", 0, r.Recall, r.QpsWall, r.QpsCpu, 0, 0, $"rerank {rr} (mmap)", r.QpsMedian));
            return r.ToString();
        });
    }
}

if (opt.Shards)
{
    ScatterGatherCoordinator? coord = null;
    Step($"Sharded build ({opt.ShardCount} local shards)", () =>
    {
        var sw = Stopwatch.StartNew();
        coord = ScatterGatherCoordinator.CreateLocal(opt.ShardCount,
            new HnswOptions { Dimension = dim, Metric = Metric.InnerProduct, M = opt.M, EfConstruction = opt.EfConstruction, InitialCapacity = n / opt.ShardCount + 1024 },
            new ScatterGatherOptions { PerShardTimeout = TimeSpan.FromSeconds(1) });
        coord.UpsertAsync(ids, data).GetAwaiter().GetResult();
        rows.Add(new ResultRow("recsys-sharded", "build", 0, 0, 0, 0, sw.Elapsed.TotalSeconds, 0, $"{opt.ShardCount} shards"));
        return $"{sw.Elapsed.TotalSeconds:F1} s";
    });
    var sq = Math.Min(opt.ShardQueries, nq);
    var gtQ = Math.Min(100, sq);
    var kk = Math.Min(opt.ShardK, n);
    int[] gtBig = [];
    Step($"exact top-{kk} for {gtQ} queries", () =>
    {
        gtBig = Datasets.GroundTruth(data, queries.AsSpan(0, gtQ * dim).ToArray(), dim, kk);
        return "ok";
    });
    foreach (var probabilistic in new[] { true, false })
    {
        var scatter = new ScatterGatherCoordinator(coord!.Shards, new ScatterGatherOptions { PerShardTimeout = TimeSpan.FromSeconds(1), ProbabilisticShardLimit = probabilistic });
        var label = probabilistic ? $"per-shard limit {scatter.PerShardLimit(kk)}" : $"per-shard limit {kk} (exact)";
        Step($"Sharded scatter-gather k={kk} {label}", () =>
        {
            for (var q = 0; q < Math.Min(20, sq); q++)
                scatter.SearchAsync(queries.AsMemory(q * dim, dim), kk, opt.ShardEf).GetAwaiter().GetResult();
            var lat = new double[sq];
            double recall = 0;
            var degraded = 0;
            for (var q = 0; q < sq; q++)
            {
                var t0 = Stopwatch.GetTimestamp();
                var res = scatter.SearchAsync(queries.AsMemory(q * dim, dim), kk, opt.ShardEf).GetAwaiter().GetResult();
                lat[q] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                if (res.Degraded) degraded++;
                if (q < gtQ)
                {
                    var truth = new HashSet<int>(gtBig.AsSpan(q * kk, kk).ToArray());
                    recall += res.Hits.Count(h => truth.Contains((int)h.Id)) / (double)kk;
                }
            }
            Array.Sort(lat);
            var p50 = lat[(int)(0.50 * (sq - 1))];
            var p99 = lat[(int)Math.Ceiling(0.99 * (sq - 1))];
            rows.Add(new ResultRow("recsys-sharded", "search", opt.ShardEf, recall / gtQ, 1000.0 / lat.Average(), 0, 0, 0,
                $"k={kk} {label}, ef=max(ef, limit); p50={p50:F2} ms p99={p99:F2} ms degraded={degraded}/{sq}"));
            return $"recall@{kk}={recall / gtQ:F4} p50={p50:F2} ms p99={p99:F2} ms degraded={degraded}";
        });
    }
}

if (opt.UsearchPeer)
{
    USearchIndex? us = null;
    Step("USearch build (NuGet Cloud.Unum.USearch)", () =>
    {
        var sw = Stopwatch.StartNew();
        us = new USearchIndex(MetricKind.Ip, ScalarKind.Float32, (ulong)dim, (ulong)opt.M, (ulong)opt.EfConstruction, 100UL, false);
        var rowsArr = new float[n][];
        for (var i = 0; i < n; i++) rowsArr[i] = data.AsSpan(i * dim, dim).ToArray();
        // The wrapper's Add grows capacity itself; we call it from one thread (its batch overload loops over single adds).
        var ulids = new ulong[n];
        for (var i = 0; i < n; i++) ulids[i] = (ulong)i;
        us.Add(ulids, rowsArr);
        var secs = sw.Elapsed.TotalSeconds;
        rows.Add(new ResultRow("usearch", "build", 0, 0, 0, 0, secs, USearchNative.Memory(us) / (double)n, "single-thread add (C# wrapper)"));
        return $"{secs:F1} s";
    });
    var efSettable = USearchNative.TrySetExpansionSearch(us!, opt.Efs[0]);
    foreach (var ef in efSettable ? opt.Efs : [100])
    {
        Step($"USearch search ef={ef}", () =>
        {
            USearchNative.TrySetExpansionSearch(us!, ef);
            var q1 = new float[dim];
            var r = Measure(q =>
            {
                queries.AsSpan(q * dim, dim).CopyTo(q1);
                var keys = new ulong[opt.K];
                var dists = new float[opt.K];
                var found = us!.Search(q1, opt.K, out keys, out dists);
                var hits = new SearchHit[found];
                for (var i = 0; i < found; i++) hits[i] = new SearchHit((long)keys[i], 1 - dists[i]);
                return hits;
            });
            rows.Add(new ResultRow("usearch", "search", ef, r.Recall, r.QpsWall, r.QpsCpu, 0, 0, efSettable ? "ef via C API" : "ef fixed at construction", r.QpsMedian));
            return r.ToString();
        });
    }
    us?.Dispose();
}

if (opt.Peers)
{
    Step("Peers: hnswlib C++ driver + FAISS (bench/peers/run.sh)", () =>
    {
        var script = FindPeersScript();
        var psi = new ProcessStartInfo("bash", [script, outDir, opt.M.ToString(inv), opt.EfConstruction.ToString(inv), opt.Threads.ToString(inv),
            opt.K.ToString(inv), string.Join(',', opt.Efs), opt.PqSegments.ToString(inv), opt.Reranks.Max().ToString(inv)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["PEERS"] = opt.PeerList;
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string? line;
        var count = 0;
        while ((line = p.StandardOutput.ReadLine()) is not null)
        {
            if (!line.StartsWith('{')) continue;
            var row = ResultRow.FromPeerJson(line);
            if (row is not null)
            {
                rows.Add(row);
                count++;
                AnsiConsole.MarkupLine($"  [grey]{Markup.Escape(row.Short())}[/]");
            }
        }
        p.WaitForExit();
        if (p.ExitCode != 0) AnsiConsole.MarkupLine($"[red]peers exited {p.ExitCode}[/]: {Markup.Escape(stderr.Result)}");
        return $"{count} records";
    });
}

var table = new Table().Title($"n={n} dim={dim} k={opt.K} M={opt.M} efC={opt.EfConstruction}");
foreach (var c in new[] { "engine", "kind", "ef", "recall@k", "QPS wall", "QPS cpu", "QPS 1/median", "build s", "B/vector", "notes" }) table.AddColumn(c);
foreach (var r in rows)
    table.AddRow(r.Engine, r.Kind, r.Ef == 0 ? "" : r.Ef.ToString(inv), r.Recall == 0 ? "" : r.Recall.ToString("F4", inv),
        r.QpsWall == 0 ? "" : r.QpsWall.ToString("F0", inv), r.QpsCpu == 0 ? "" : r.QpsCpu.ToString("F0", inv),
        r.QpsMedian == 0 ? "" : r.QpsMedian.ToString("F0", inv), r.BuildSeconds == 0 ? "" : r.BuildSeconds.ToString("F2", inv), r.BytesPerVector == 0 ? "" : r.BytesPerVector.ToString("F0", inv), Markup.Escape(r.Notes));
AnsiConsole.Write(table);

var meta = new
{
    n, dim, queries = nq, opt.K, opt.M, opt.EfConstruction, opt.Threads, opt.Rank, opt.Noise, opt.Seed, kernel = VectorKernels.Active.ToString(),
    cores = Environment.ProcessorCount, started = DateTime.UtcNow.ToString("u", inv), loadavg = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "",
    totalSeconds = total.Elapsed.TotalSeconds,
};
File.WriteAllText(Path.Combine(outDir, "results.json"), JsonSerializer.Serialize(new { meta, rows }, new JsonSerializerOptions { WriteIndented = true }));
var md = new StringBuilder();
md.AppendLine(CultureInfo.InvariantCulture, $"| engine | kind | ef | recall@{opt.K} | QPS wall | QPS cpu | QPS 1/median | build s | B/vector | notes |");
md.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
foreach (var r in rows)
    md.AppendLine(CultureInfo.InvariantCulture, $"| {r.Engine} | {r.Kind} | {(r.Ef == 0 ? "" : r.Ef)} | {(r.Recall == 0 ? "" : r.Recall.ToString("F4", inv))} | {(r.QpsWall == 0 ? "" : r.QpsWall.ToString("F0", inv))} | {(r.QpsCpu == 0 ? "" : r.QpsCpu.ToString("F0", inv))} | {(r.QpsMedian == 0 ? "" : r.QpsMedian.ToString("F0", inv))} | {(r.BuildSeconds == 0 ? "" : r.BuildSeconds.ToString("F2", inv))} | {(r.BytesPerVector == 0 ? "" : r.BytesPerVector.ToString("F0", inv))} | {r.Notes} |");
File.WriteAllText(Path.Combine(outDir, "results.md"), md.ToString());
AnsiConsole.MarkupLine($"wrote {Markup.Escape(Path.Combine(outDir, "results.json"))} and results.md in {total.Elapsed.TotalSeconds:F0} s (loadavg {Markup.Escape(meta.loadavg)})");
return 0;

void Step(string name, Func<string> action)
{
    string result = "";
    var sw = Stopwatch.StartNew();
    AnsiConsole.Status().Start(name + " ...", _ => result = action());
    AnsiConsole.MarkupLine($"[green]done[/] {Markup.Escape(name)}: {Markup.Escape(result)} [grey]({sw.Elapsed.TotalSeconds:F1} s)[/]");
}

// Single-thread loop over the queries on this thread, best of 3 rounds (the machine is shared): wall QPS and
// thread-CPU QPS (the latter is less sensitive to other load).
SearchMeasurement Measure(Func<int, SearchHit[]> search, int maxQueries = int.MaxValue)
{
    var count = Math.Min(nq, maxQueries);
    for (var q = 0; q < Math.Min(count, 200); q++) search(q);
    var results = new SearchHit[count][];
    double bestWall = double.MaxValue, bestCpu = double.MaxValue;
    var lat = new long[3 * count];
    for (var round = 0; round < 3; round++)
    {
        var c0 = CpuClocks.ThreadSeconds();
        var w0 = Stopwatch.GetTimestamp();
        for (var q = 0; q < count; q++)
        {
            var t0 = Stopwatch.GetTimestamp();
            results[q] = search(q);
            lat[(round * count) + q] = Stopwatch.GetTimestamp() - t0;
        }
        bestWall = Math.Min(bestWall, Stopwatch.GetElapsedTime(w0).TotalSeconds);
        bestCpu = Math.Min(bestCpu, CpuClocks.ThreadSeconds() - c0);
    }
    double hits = 0;
    for (var q = 0; q < count; q++)
    {
        var truth = gt.AsSpan(q * opt.K, opt.K);
        foreach (var h in results[q])
            if (truth.Contains((int)h.Id)) hits++;
    }
    Array.Sort(lat);
    var median = lat[lat.Length / 2] / (double)Stopwatch.Frequency;
    return new SearchMeasurement(hits / (count * (double)opt.K), count / bestWall, bestCpu > 0 ? count / bestCpu : 0, 1 / median);
}

static string FindPeersScript()
{
    foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
    {
        for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
        {
            var p = Path.Combine(d.FullName, "bench", "peers", "run.sh");
            if (File.Exists(p)) return p;
        }
    }
    throw new FileNotFoundException("bench/peers/run.sh not found above the working directory or " + AppContext.BaseDirectory);
}

/// <summary>QpsMedian = 1 / median single-query latency: the least disturbed by other processes on a shared machine.</summary>
internal sealed record SearchMeasurement(double Recall, double QpsWall, double QpsCpu, double QpsMedian)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"recall={Recall:F4} QPS wall={QpsWall:F0} cpu={QpsCpu:F0} 1/median={QpsMedian:F0}");
}

internal sealed record ResultRow(string Engine, string Kind, int Ef, double Recall, double QpsWall, double QpsCpu, double BuildSeconds, double BytesPerVector, string Notes, double QpsMedian = 0)
{
    public string Short() => string.Create(CultureInfo.InvariantCulture, $"{Engine} {Kind} ef={Ef} recall={Recall:F4} qps wall/cpu/median={QpsWall:F0}/{QpsCpu:F0}/{QpsMedian:F0} build={BuildSeconds:F2} {Notes}");

    public static ResultRow? FromPeerJson(string line)
    {
        using var doc = JsonDocument.Parse(line);
        var r = doc.RootElement;
        double D(string name) => r.TryGetProperty(name, out var v) ? v.GetDouble() : 0;
        var engine = r.GetProperty("engine").GetString()!;
        var kind = r.GetProperty("kind").GetString()!;
        var notes = r.TryGetProperty("rerank", out var rr) ? $"rerank {rr.GetInt32()}" : "";
        if (engine == "faiss-ivfpq" && kind == "search") notes = "nprobe; " + notes;
        if (kind == "build" && r.TryGetProperty("threads", out var th)) notes = $"{th.GetInt32()} threads";
        return new ResultRow(engine, kind, (int)D("ef"), D("recall"), D("qps_wall"), D("qps_cpu"), D("seconds"), D("bytes_per_vector"), notes, D("qps_median"));
    }
}
