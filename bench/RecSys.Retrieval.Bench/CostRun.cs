using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using RecSys.Bench.Common;
using RecSys.Candidates;
using RecSys.Core.Contracts;
using RecSys.FeatureStore.Serving;
using RecSys.Retrieval.Services;
using RecSys.Retrieval.Sources;
using RecSys.Retrieval.VectorIndex;
using RecSys.Trainer.Generation;
using StackExchange.Redis;
using StackExchange.Redis.Profiling;

namespace RecSys.Retrieval.Bench;

/// <summary>What one run measures.</summary>
internal sealed record CostSettings(int Users, int Requests, int Warmup, double Rate, int Count, int RecallUsers, bool Stages, bool Allocations = false, int KestrelPort = 0, bool Commands = false);

/// <summary>
/// One run: the retriever end to end (as <c>POST /v1/candidates</c> runs it, wire encoding included) over a fixed sequence of
/// users at a fixed rate, one request at a time, in process CPU-ms per request; then each stage alone over the same users
/// (signals read, each source with its planned budget, the vector search inside the collaborative source, fusion, the
/// eligibility filter); then, optionally, recall of the collaborative search against an exact scan.
/// </summary>
internal sealed class CostRun(IServiceProvider services, CostSettings settings, TextWriter log)
{
    private readonly Dictionary<string, double> _stageCpu = new(StringComparer.Ordinal);

    public async Task<CostReport> RunAsync(StreamWriter? digest, CancellationToken cancellationToken)
    {
        var retriever = services.GetRequiredService<CandidateRetriever>();
        var empty = new HashSet<string>(StringComparer.Ordinal);
        var buffer = new ArrayBufferWriter<byte>(1 << 20);

        // Warm-up: JIT to tier 1, connections, caches; other users than the measured ones.
        for (var i = 0; i < settings.Warmup; i++)
        {
            var response = await retriever.RetrieveAsync(UserAt(i + settings.Requests), null, settings.Count, empty, cancellationToken);
            Encode(response, buffer);
        }

        // End to end, paced: the window's CPU (everything the process did, background work included) and the requests' own.
        var requestCpu = 0.0;
        var encodeCpu = 0.0;
        var digestCpu = 0.0;
        var digestAllocated = 0L;
        var candidates = 0L;
        var allocated0 = GC.GetTotalAllocatedBytes(precise: true);
        var gc0 = GC.CollectionCount(0) + GC.CollectionCount(1) + GC.CollectionCount(2);
        using var sampler = settings.Allocations ? new AllocationSampler() : null;
        sampler?.Start();
        // Store commands of the measured requests (the retriever's multiplexer only; the bench's own reads are not in it).
        ProfilingSession? commands = null;
        if (settings.Commands)
        {
            commands = new ProfilingSession();
            services.GetRequiredService<IConnectionMultiplexer>().RegisterProfiler(() => commands);
        }

        // Thread-pool work items and the process's context switches over the window: the request's thread hops.
        var hops0 = ThreadHops.Read();
        var window0 = CpuClocks.ProcessMilliseconds();
        var pacer = new Pacer(settings.Rate);
        var latencyMs = new double[settings.Requests];
        for (var i = 0; i < settings.Requests; i++)
        {
            await pacer.WaitAsync(cancellationToken);
            var user = UserAt(i);
            var c0 = CpuClocks.ProcessMilliseconds();
            var t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            var response = await retriever.RetrieveAsync(user, null, settings.Count, empty, cancellationToken);
            latencyMs[i] = System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            var c1 = CpuClocks.ProcessMilliseconds();
            Encode(response, buffer);
            var c2 = CpuClocks.ProcessMilliseconds();
            requestCpu += c2 - c0;
            encodeCpu += c2 - c1;
            candidates += response.Candidates.Count;
            if (digest is not null)
            {
                // The bench's own bookkeeping: its CPU and allocations are taken out of the window's figures.
                var allocated1 = GC.GetAllocatedBytesForCurrentThread();
                digest.WriteLine(Digest(response));
                digestAllocated += GC.GetAllocatedBytesForCurrentThread() - allocated1;
                digestCpu += CpuClocks.ProcessMilliseconds() - c2;
            }
        }

        var windowCpu = CpuClocks.ProcessMilliseconds() - window0 - digestCpu;
        var hops = ThreadHops.Read() - hops0;
        sampler?.Stop();
        IReadOnlyList<IProfiledCommand>? profiled = commands is null ? null : [.. (IEnumerable<IProfiledCommand>)commands.FinishProfiling()];
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated0 - digestAllocated;
        var gcs = GC.CollectionCount(0) + GC.CollectionCount(1) + GC.CollectionCount(2) - gc0;
        var n = settings.Requests;
        log.WriteLine($"end to end: {n} requests at {settings.Rate} req/s, {candidates / (double)n:N0} candidates each: " +
            $"{windowCpu / n:F2} CPU-ms per request over the window, {requestCpu / n:F2} in the requests (encode {encodeCpu / n:F2}), " +
            $"{allocated / (double)n / 1024:N0} KiB allocated per request, {gcs} GCs");
        Array.Sort(latencyMs);
        log.WriteLine($"thread hops per request: {hops.WorkItems / (double)n:F1} thread-pool work items, {hops.ContextSwitches / (double)n:F1} context switches ({hops.Voluntary / (double)n:F1} voluntary)");
        log.WriteLine($"retrieval wall time per request (one at a time): p50 {Percentile(latencyMs, 0.50):F2} ms, " +
            $"p90 {Percentile(latencyMs, 0.90):F2} ms, p99 {Percentile(latencyMs, 0.99):F2} ms");

        if (sampler is not null)
        {
            log.WriteLine("sampled allocations by type (KiB per request):");
            foreach (var (type, bytes) in sampler.Top(25))
            {
                log.WriteLine($"  {bytes / 1024.0 / n,10:N1}  {type}");
            }
        }

        if (profiled is not null)
        {
            var byCommand = profiled.GroupBy(c => c.Command, StringComparer.OrdinalIgnoreCase).OrderByDescending(g => g.Count()).ToList();
            log.WriteLine($"store commands per request: {profiled.Count / (double)n:F2} in all: " +
                string.Join(", ", byCommand.Select(g => $"{g.Key.ToLowerInvariant()} {g.Count() / (double)n:F2}")));
        }

        if (settings.Stages)
        {
            await StagesAsync(cancellationToken);
        }

        var recall = settings.RecallUsers > 0 ? await RecallAsync(cancellationToken) : (double?)null;
        var stages = _stageCpu.ToDictionary(kv => kv.Key, kv => kv.Value / n, StringComparer.Ordinal);
        stages["encode"] = encodeCpu / n;
        return new CostReport(n, settings.Rate, settings.Count, candidates / (double)n, windowCpu / n, requestCpu / n, allocated / (double)n, gcs, stages, recall);
    }

    internal static double Percentile(double[] sorted, double q) =>
        sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];

    private string UserAt(int i) => UserAt(i, settings.Users);

    /// <summary>The i-th user of the fixed request sequence.</summary>
    internal static string UserAt(int i, int users) => SyntheticWorld.UserId((int)((i * 7919L) % users));

    private static void Encode(CandidateResponse response, ArrayBufferWriter<byte> buffer)
    {
        buffer.ResetWrittenCount();
        var encoded = CandidateWireFormat.TryEncode(response) ?? throw new InvalidOperationException("The response has no compact form.");
        encoded.WriteTo(buffer);
    }

    /// <summary>User, count, then a hash of every candidate's id, score bits and sources in order, then the ids.</summary>
    internal static string Digest(CandidateResponse response)
    {
        var text = new StringBuilder();
        foreach (var c in response.Candidates)
        {
            text.Append(c.ItemId).Append(' ').Append(BitConverter.DoubleToInt64Bits(c.Score).ToString("x16", CultureInfo.InvariantCulture))
                .Append(' ').AppendJoin('+', c.Sources).Append('\n');
        }

        var hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..16];
        return $"{response.UserId}\t{response.Candidates.Count}\t{hash}\t{string.Join(',', response.Candidates.Select(c => c.ItemId))}";
    }

    /// <summary>Each stage alone over the measured users, paced as the end-to-end loop, in CPU-ms summed per stage.</summary>
    private async Task StagesAsync(CancellationToken cancellationToken)
    {
        var options = services.GetRequiredService<IOptionsMonitor<RetrievalOptions>>().CurrentValue;
        var indexOptions = services.GetRequiredService<IOptions<VectorIndexOptions>>().Value;
        var sources = services.GetServices<ICandidateSource>().ToDictionary(s => s.Name, StringComparer.OrdinalIgnoreCase);
        var plan = BudgetPlanner.Plan(options, sources.Keys, settings.Count);
        var reader = services.GetRequiredService<CandidateSignalReader>();
        var filter = services.GetRequiredService<EligibilityFilter>();
        var resolver = services.GetRequiredService<UserEmbeddingResolver>();
        var index = services.GetRequiredService<IVectorIndexReader>();
        UserSignalsQuery? query = null;
        foreach (var source in sources.Values)
        {
            if (source.SignalsNeeded is { } needed)
            {
                query = query is null ? needed : query.Union(needed);
            }
        }

        var empty = new HashSet<string>(StringComparer.Ordinal);
        var pacer = new Pacer(settings.Rate);
        for (var i = 0; i < settings.Requests; i++)
        {
            await pacer.WaitAsync(cancellationToken);
            var user = UserAt(i);
            var signals = await MeasureAsync("signals read", () => reader.ReadUserSignalsAsync(user, query ?? UserSignalsQuery.None, cancellationToken));
            var request = new RetrievalRequestContext(user, null, settings.Count, empty, BenchWorld.RequestTime, Task.FromResult(signals));
            var inputs = new List<SourceResult>();
            IReadOnlyList<ScoredItem> reserve = [];
            foreach (var p in plan.Sources)
            {
                var backfill = string.Equals(p.Name, options.BackfillSource, StringComparison.OrdinalIgnoreCase);
                var fetch = backfill ? Math.Max(p.FetchBudget, Math.Min(settings.Count, options.MaxBackfillReserve)) : p.FetchBudget;
                var items = await MeasureAsync("source " + p.Name, () => sources[p.Name].RetrieveAsync(request, fetch, cancellationToken));
                var contributed = Math.Min(items.Count, p.BoostedOnFallback ? p.Budget : p.FetchBudget);
                inputs.Add(new SourceResult(p.Name, p.Weight, items.Take(contributed).ToArray()));
                if (backfill)
                {
                    reserve = items;
                }
            }

            // The collaborative source's search alone (its user embedding is cached from the call above).
            var snapshot = index.Snapshot();
            if (await resolver.ResolveAsync(user, snapshot, Task.FromResult(signals), cancellationToken) is { } embedding)
            {
                var exclude = new HashSet<long>();
                foreach (var id in signals.Seen.Concat(embedding.SessionItems))
                {
                    exclude.Add(IVectorIndexReader.KeyOf(id));
                }

                var k = Math.Min(plan.Sources.First(s => s.Name == Core.Domain.SourceNames.Collaborative).FetchBudget, VectorIndexOptions.MaxK);
                await MeasureAsync("  of which vector search", () => snapshot.SearchAsync(embedding.Vector, k, indexOptions.Collaborative.EfSearch, null, exclude, cancellationToken));
            }

            var fused = Measure("fusion", () => CandidateFusion.Merge(inputs));
            var ids = fused.Select(c => c.ItemId).Concat(reserve.Select(r => r.ItemId)).Distinct(StringComparer.Ordinal).ToList();
            await MeasureAsync("eligibility filter", () => filter.CheckAsync(user, ids, new HashSet<string>(signals.Seen, StringComparer.Ordinal), cancellationToken));
        }
    }

    /// <summary>
    /// Recall@k of the collaborative search against an exact scan of the world's item vectors, with the same exclusions.
    /// </summary>
    private async Task<double> RecallAsync(CancellationToken cancellationToken)
    {
        var options = services.GetRequiredService<IOptionsMonitor<RetrievalOptions>>().CurrentValue;
        var indexOptions = services.GetRequiredService<IOptions<VectorIndexOptions>>().Value;
        var reader = services.GetRequiredService<CandidateSignalReader>();
        var resolver = services.GetRequiredService<UserEmbeddingResolver>();
        var index = services.GetRequiredService<IVectorIndexReader>();
        var plan = BudgetPlanner.Plan(options, [Core.Domain.SourceNames.Collaborative], settings.Count);
        var k = Math.Min(plan.Sources[0].FetchBudget, VectorIndexOptions.MaxK);
        var dim = index.Dimension;
        var vectors = new Dictionary<string, float[]>(StringComparer.Ordinal);
        var found = 0L;
        var wanted = 0L;
        for (var i = 0; i < settings.RecallUsers; i++)
        {
            var user = UserAt(i);
            var signals = await reader.ReadUserSignalsAsync(user, resolver.SignalsNeeded with { Seen = true }, cancellationToken);
            var snapshot = index.Snapshot();
            if (await resolver.ResolveAsync(user, snapshot, Task.FromResult(signals), cancellationToken) is not { } embedding)
            {
                continue;
            }

            var excluded = new HashSet<string>(signals.Seen.Concat(embedding.SessionItems), StringComparer.Ordinal);
            var hits = (await snapshot.SearchAsync(embedding.Vector, k, indexOptions.Collaborative.EfSearch, null,
                excluded.Select(IVectorIndexReader.KeyOf).ToHashSet(), cancellationToken)).Hits;
            var exact = ExactTop(snapshot, embedding.Vector, excluded, k, dim, vectors);
            var exactSet = exact.ToHashSet(StringComparer.Ordinal);
            found += hits.Count(h => exactSet.Contains(h.ItemId));
            wanted += exact.Count;
        }

        var recall = wanted == 0 ? 0 : found / (double)wanted;
        log.WriteLine($"recall@{k} of the collaborative search against an exact scan: {recall:F4} ({settings.RecallUsers} users)");
        return recall;
    }

    /// <summary>The exact top-<paramref name="k"/> item ids by inner product with the index's own (normalized) vectors.</summary>
    private List<string> ExactTop(IndexSnapshot snapshot, float[] query, HashSet<string> excluded, int k, int dim, Dictionary<string, float[]> vectors)
    {
        if (vectors.Count == 0)
        {
            var buffer = new float[dim];
            for (var i = 0; ; i++)
            {
                var id = SyntheticWorld.ItemId(i);
                if (!snapshot.TryGetVector(id, buffer))
                {
                    break;
                }

                vectors[id] = buffer.ToArray();
            }
        }

        var q = query.ToArray();
        if (snapshot.Metric == VectorSearch.Metric.Cosine)
        {
            VectorSearch.VectorKernels.Normalize(q);
        }

        return vectors
            .Where(kv => !excluded.Contains(kv.Key))
            .Select(kv => (Id: kv.Key, Score: VectorSearch.VectorKernels.Dot(q, kv.Value)))
            .OrderByDescending(x => x.Score)
            .ThenBy(x => x.Id, StringComparer.Ordinal)
            .Take(k)
            .Select(x => x.Id)
            .ToList();
    }

    private async Task<T> MeasureAsync<T>(string stage, Func<Task<T>> work)
    {
        var c0 = CpuClocks.ProcessMilliseconds();
        var result = await work();
        Add(stage, CpuClocks.ProcessMilliseconds() - c0);
        return result;
    }

    private T Measure<T>(string stage, Func<T> work)
    {
        var c0 = CpuClocks.ProcessMilliseconds();
        var result = work();
        Add(stage, CpuClocks.ProcessMilliseconds() - c0);
        return result;
    }

    private void Add(string stage, double ms) => _stageCpu[stage] = _stageCpu.GetValueOrDefault(stage) + ms;

    /// <summary>Starts request i at i / rate seconds (or at once when behind).</summary>
    internal sealed class Pacer(double rate)
    {
        private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
        private int _issued;

        public async Task WaitAsync(CancellationToken cancellationToken)
        {
            var due = TimeSpan.FromSeconds(_issued++ / rate);
            var wait = due - _clock.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, cancellationToken);
            }
        }
    }
}

/// <summary>CPU-ms per request, end to end and per stage, as written to the run's JSON.</summary>
internal sealed record CostReport(
    int Requests,
    double Rate,
    int Count,
    double CandidatesPerRequest,
    double WindowCpuMsPerRequest,
    double RequestCpuMsPerRequest,
    double AllocatedBytesPerRequest,
    int Collections,
    Dictionary<string, double> StageCpuMsPerRequest,
    double? Recall);
