using System.Diagnostics;
using System.Globalization;

namespace RecSys.Batching.Bench;

/// <summary>
/// Closed-loop load: <c>clients</c> concurrent callers, each sending its next request when the previous one is answered,
/// for a fixed time; the batcher and the direct peer run alternately in the same process on the same model.
/// </summary>
public static class LoadRun
{
    public sealed record Result(string Peer, int Clients, int Rows, double RequestsPerSecond, double P50Ms, double P99Ms, double BytesPerRequest, double MeanBatchRows);

    public static async Task RunAsync(TextWriter output, BenchModel model, int[] clientLevels, int rowsPerRequest, TimeSpan duration, int rounds, TimeSpan targetP99)
    {
        output.WriteLine($"model: {model.Description}; {rowsPerRequest} rows per request; {duration.TotalSeconds:F0} s per run, {rounds} rounds; batcher p99 target {targetP99.TotalMilliseconds:F0} ms");
        var raw = RunRawLoop(model, rowsPerRequest, duration);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"reference: raw loop at batch 64 on one thread (no queue, no waiting): {raw:F0} req/s ({raw * rowsPerRequest:F0} rows/s)"));
        output.WriteLine("| clients | peer | req/s | p50 ms | p99 ms | B/request | rows/batch | req/s vs direct | req/s vs raw batch-64 loop |");
        output.WriteLine("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var clients in clientLevels)
        {
            var results = new List<Result>();
            for (var round = 0; round < rounds; round++)
            {
                results.Add(await RunDirectAsync(model, clients, rowsPerRequest, duration));
                foreach (var workers in new[] { 1, 2 })
                {
                    results.Add(await RunBatchedAsync(model, clients, rowsPerRequest, duration, workers, targetP99));
                }
            }

            // Report each peer's median round.
            var direct = Median(results.Where(r => r.Peer == "direct"));
            foreach (var peer in results.Select(r => r.Peer).Distinct())
            {
                var r = Median(results.Where(x => x.Peer == peer));
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {clients} | {peer} | {r.RequestsPerSecond:F0} | {r.P50Ms:F2} | {r.P99Ms:F2} | {r.BytesPerRequest:F0} | {(double.IsNaN(r.MeanBatchRows) ? "-" : r.MeanBatchRows.ToString("F1", CultureInfo.InvariantCulture))} | {r.RequestsPerSecond / direct.RequestsPerSecond:F2}x | {r.RequestsPerSecond / raw:F2}x |"));
            }
        }
    }

    /// <summary>The ceiling the issue compares against: full 64-row batches scored back to back, requests/s.</summary>
    private static double RunRawLoop(BenchModel model, int rowsPerRequest, TimeSpan duration)
    {
        var requestsPerBatch = Math.Max(1, 64 / rowsPerRequest);
        var requests = Requests(model, requestsPerBatch, rowsPerRequest);
        var features = new float[requestsPerBatch * rowsPerRequest * model.Width];
        var scores = new float[requestsPerBatch * rowsPerRequest];
        var start = Stopwatch.GetTimestamp();
        var stopAt = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        long batches = 0;
        while (Stopwatch.GetTimestamp() < stopAt)
        {
            for (var i = 0; i < requests.Length; i++)
            {
                model.Assemble(requests[i], features.AsSpan(i * rowsPerRequest * model.Width, rowsPerRequest * model.Width));
            }

            model.Score(features, scores.Length, scores);
            batches++;
        }

        return batches * requestsPerBatch / Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    private static Result Median(IEnumerable<Result> runs)
    {
        var ordered = runs.OrderBy(r => r.RequestsPerSecond).ToArray();
        return ordered[ordered.Length / 2];
    }

    private static Candidate[][] Requests(BenchModel model, int count, int rows)
    {
        var random = new Random(5);
        return Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, rows).Select(_ => new Candidate(random.Next(model.Items))).ToArray()).ToArray();
    }

    private static Task<Result> RunDirectAsync(BenchModel model, int clients, int rows, TimeSpan duration) =>
        MeasureAsync("direct", clients, rows, duration, double.NaN, model, (request, scores) =>
        {
            model.ScoreDirect(request, scores);
            return ValueTask.CompletedTask;
        }, callOnThreadPool: true);

    private static async Task<Result> RunBatchedAsync(BenchModel model, int clients, int rows, TimeSpan duration, int workers, TimeSpan targetP99)
    {
        long batches = 0;
        long batchRows = 0;
        BatchScorer scorer = (features, n, width, scores, ct) =>
        {
            Interlocked.Increment(ref batches);
            Interlocked.Add(ref batchRows, n);
            return model.ScoreAsync(features, n, width, scores, ct);
        };
        var options = new DynamicBatchingOptions { Name = "load", FeatureWidth = model.Width, WorkerCount = workers, QueueCapacityRows = 1 << 16, TargetP99 = targetP99 };
        await using var batcher = new DynamicBatcher<Candidate>(options, model.Assemble, scorer);
        var result = await MeasureAsync($"batched, {workers} worker{(workers > 1 ? "s" : "")}", clients, rows, duration, 0, model,
            (request, scores) => batcher.ScoreAsync(request, scores), callOnThreadPool: false);
        return result with { MeanBatchRows = batches == 0 ? 0 : (double)batchRows / batches };
    }

    private static async Task<Result> MeasureAsync(string peer, int clients, int rows, TimeSpan duration, double meanBatchRows, BenchModel model,
        Func<Candidate[], float[], ValueTask> call, bool callOnThreadPool)
    {
        var requests = Requests(model, 256, rows);
        var latencies = new long[clients][];
        var counts = new int[clients];
        for (var c = 0; c < clients; c++)
        {
            latencies[c] = new long[1 << 16];
        }

        // Warm-up, then the measured window.
        await RunClientsAsync(TimeSpan.FromMilliseconds(300), record: false);
        GC.Collect();
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var elapsed = await RunClientsAsync(duration, record: true);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;

        var all = latencies.SelectMany((l, c) => l.Take(counts[c])).Order().ToArray();
        var total = all.Length;
        double Percentile(double p) => all[Math.Max((int)Math.Ceiling(p * total), 1) - 1] * 1000.0 / Stopwatch.Frequency;
        return new Result(peer, clients, rows, total / elapsed.TotalSeconds, Percentile(0.5), Percentile(0.99), (double)allocated / total, meanBatchRows);

        async Task<TimeSpan> RunClientsAsync(TimeSpan length, bool record)
        {
            var stopAt = Stopwatch.GetTimestamp() + (long)(length.TotalSeconds * Stopwatch.Frequency);
            var start = Stopwatch.GetTimestamp();
            var tasks = new Task[clients];
            for (var c = 0; c < clients; c++)
            {
                var client = c;
                tasks[c] = Task.Run(async () =>
                {
                    var scores = new float[rows];
                    var next = client;
                    var recorded = latencies[client];
                    while (Stopwatch.GetTimestamp() < stopAt)
                    {
                        var t0 = Stopwatch.GetTimestamp();
                        await call(requests[next++ & 255], scores);
                        if (callOnThreadPool)
                        {
                            // Direct calls run synchronously: yield so the clients share the pool like real requests.
                            await Task.Yield();
                        }

                        if (record && counts[client] < recorded.Length)
                        {
                            recorded[counts[client]++] = Stopwatch.GetTimestamp() - t0;
                        }
                    }
                });
            }

            await Task.WhenAll(tasks);
            return Stopwatch.GetElapsedTime(start);
        }
    }
}
