using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using RecSys.Bench.Common;

// Open-loop load generator for /v1/recommendations: requests are started on a fixed schedule whatever the latency of
// earlier ones, and latency is measured from the scheduled start, so a slow server cannot hide queueing delay
// (no coordinated omission). A profile of phases (rate:seconds,...) drives soak and overload runs; each second is
// reported by status (2xx, 429, 5xx, other, transport errors), and the recovery time after the last phase change is
// measured. With --pid, the server's resident memory is sampled every second and reported per minute, with its growth
// over the steady state (after the warm-up) as well as from the first seconds.
var commandLine = new BenchCommandLine("dotnet run -c Release --project bench/RecSys.LoadGen -- [options]")
    .Option("--rate", "N", "requests started per second (default 50)")
    .Option("--seconds", "S", "duration (default 30)")
    .Option("--profile", "R:S,...", "phases of rate:seconds, e.g. 100:30,300:60,100:60 (overrides --rate/--seconds)")
    .Option("--users", "N", "users u0..u(N-1), drawn at random (default 1000)")
    .Option("--count", "N", "items asked per request (default 20)")
    .Option("--url", "URL", "the Ranking service (default http://localhost:5100)")
    .Option("--api-key", "KEY", "sent as X-Api-Key (default: $RECSYS_API_KEY)")
    .Option("--pid", "PID", "sample this process's resident memory (VmRSS) every second")
    .Option("--rss-warmup", "S", "seconds of warm-up before the steady-state RSS baseline (default 60)")
    .Option("--recovered-p99", "MS", "a second counts as recovered when all its answers are 2xx and its p99 is under this (default 500)")
    .Flag("--timeline", "print one line per second");
return await commandLine.RunAsync(args, RunAsync);

static async Task<int> RunAsync(ParsedArguments options)
{
    var phases = ParsePhases(options);
    var users = options.GetInt("--users", 1000);
    var count = options.GetInt("--count", 20);
    var baseUrl = options.GetString("--url", "http://localhost:5100");
    var apiKey = options.GetStringOrNull("--api-key") ?? Environment.GetEnvironmentVariable("RECSYS_API_KEY");
    var pid = options.GetInt("--pid", 0);
    var recoveredP99 = options.GetDouble("--recovered-p99", 500);
    var rssWarmup = options.GetInt("--rss-warmup", 60);
    ParsedArguments.Require(rssWarmup >= 0, "--rss-warmup must be 0 or more");
    ParsedArguments.Require(users > 0 && count > 0, "--users and --count must be positive");
    ParsedArguments.Require(Uri.TryCreate(baseUrl, UriKind.Absolute, out var baseUri), $"--url needs an absolute URL, not '{baseUrl}'");

    using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 512, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
    {
        BaseAddress = baseUri,
        Timeout = TimeSpan.FromSeconds(10),
    };
    if (!string.IsNullOrEmpty(apiKey))
    {
        http.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
    }

    var schedule = new List<double>();
    var phaseStart = 0.0;
    foreach (var (rate, seconds) in phases)
    {
        var n = (int)(rate * seconds);
        for (var i = 0; i < n; i++)
        {
            schedule.Add(phaseStart + (i / rate));
        }

        phaseStart += seconds;
    }

    var total = schedule.Count;
    ParsedArguments.Require(total >= 1, "the profile starts no request");
    var latencies = new double[total];
    var outcomes = new Outcome[total];
    var random = new Random(1);
    var userOf = Enumerable.Range(0, total).Select(_ => random.Next(users)).ToArray();
    var tasks = new Task[total];
    // What each 2xx answer was made of: candidates ranked, and the parts the service reports as degraded.
    var considered = new int[total];
    var degradedReasons = new System.Collections.Concurrent.ConcurrentDictionary<string, int>(StringComparer.Ordinal);
    var rss = new List<long>();
    using var sampling = new CancellationTokenSource();
    var sampler = pid > 0 ? SampleRssAsync(pid, rss, sampling.Token) : Task.CompletedTask;
    var clock = Stopwatch.StartNew();
    for (var n = 0; n < total; n++)
    {
        var scheduled = schedule[n];
        var wait = scheduled - clock.Elapsed.TotalSeconds;
        if (wait > 0)
        {
            await Task.Delay(TimeSpan.FromSeconds(wait));
        }

        var index = n;
        tasks[n] = Task.Run(async () =>
        {
            try
            {
                using var response = await http.GetAsync($"/v1/recommendations/u{userOf[index]}?count={count}");
                await response.Content.LoadIntoBufferAsync();
                if (response.IsSuccessStatusCode)
                {
                    ReadMetadata(await response.Content.ReadAsByteArrayAsync(), index);
                }

                outcomes[index] = response.StatusCode switch
                {
                    >= HttpStatusCode.OK and < HttpStatusCode.MultipleChoices => Outcome.Ok,
                    HttpStatusCode.TooManyRequests => Outcome.Rejected,
                    >= HttpStatusCode.InternalServerError => Outcome.ServerError,
                    _ => Outcome.Other,
                };
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                outcomes[index] = Outcome.TransportError;
            }

            latencies[index] = (clock.Elapsed.TotalSeconds - scheduled) * 1000;
        });
    }

    await Task.WhenAll(tasks);
    var elapsed = clock.Elapsed.TotalSeconds;
    await sampling.CancelAsync();
    await sampler;

    var ok = Select(Outcome.Ok);
    var rejected = Select(Outcome.Rejected);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"requests {total}  achieved {total / elapsed:F1} req/s  2xx {ok.Length}  429 {rejected.Length}  5xx {Count(Outcome.ServerError)}  other {Count(Outcome.Other)}  transport errors {Count(Outcome.TransportError)}"));
    Console.WriteLine($"2xx latency: {Percentiles(ok)}");
    if (rejected.Length > 0)
    {
        Console.WriteLine($"429 latency: {Percentiles(rejected)}");
    }

    var okCandidates = Enumerable.Range(0, total).Where(i => outcomes[i] == Outcome.Ok).Select(i => considered[i]).Order().ToArray();
    if (okCandidates.Length > 0)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"2xx candidates ranked: min {okCandidates[0]}  p10 {okCandidates[okCandidates.Length / 10]}  p50 {okCandidates[okCandidates.Length / 2]}  max {okCandidates[^1]}; degraded: {(degradedReasons.IsEmpty ? "none" : string.Join(", ", degradedReasons.OrderBy(d => d.Key, StringComparer.Ordinal).Select(d => $"{d.Key} {d.Value}")))}"));
    }

    if (phases.Count > 1)
    {
        PrintPhases(phases, schedule, outcomes, latencies, recoveredP99);
    }

    if (options.Has("--timeline"))
    {
        PrintTimeline(schedule, outcomes, latencies);
    }

    if (rss.Count > 1)
    {
        PrintRss(rss, rssWarmup);
    }

    return Count(Outcome.ServerError) + Count(Outcome.TransportError) == 0 ? 0 : 1;

    double[] Select(Outcome outcome) => [.. Enumerable.Range(0, total).Where(i => outcomes[i] == outcome).Select(i => latencies[i]).Order()];

    int Count(Outcome outcome) => outcomes.Count(o => o == outcome);

    void ReadMetadata(byte[] body, int index)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            if (!json.RootElement.TryGetProperty("metadata", out var metadata))
            {
                return;
            }

            if (metadata.TryGetProperty("candidatesConsidered", out var c) && c.TryGetInt32(out var n))
            {
                considered[index] = n;
            }

            if (metadata.TryGetProperty("degraded", out var d) && d.ValueKind == JsonValueKind.Array)
            {
                foreach (var reason in d.EnumerateArray())
                {
                    degradedReasons.AddOrUpdate(reason.GetString() ?? "?", 1, (_, v) => v + 1);
                }
            }
        }
        catch (JsonException)
        {
            // Not the service's JSON: the status still counts, the composition is unknown.
        }
    }
}

static List<(double Rate, double Seconds)> ParsePhases(ParsedArguments options)
{
    var profile = options.GetStringOrNull("--profile");
    if (profile is null)
    {
        var rate = options.GetDouble("--rate", 50.0);
        var seconds = options.GetDouble("--seconds", 30.0);
        ParsedArguments.Require(rate > 0 && seconds > 0, "--rate and --seconds must be positive");
        return [(rate, seconds)];
    }

    var phases = new List<(double, double)>();
    foreach (var part in profile.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
    {
        var pieces = part.Split(':');
        ParsedArguments.Require(
            pieces.Length == 2
                && double.TryParse(pieces[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var r) && r > 0
                && double.TryParse(pieces[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s > 0,
            $"--profile phase '{part}' is not rate:seconds with both positive");
        phases.Add((double.Parse(pieces[0], CultureInfo.InvariantCulture), double.Parse(pieces[1], CultureInfo.InvariantCulture)));
    }

    ParsedArguments.Require(phases.Count > 0, "--profile has no phase");
    return phases;
}

static string Percentiles(double[] sorted)
{
    if (sorted.Length == 0)
    {
        return "none";
    }

    double P(double q) => sorted[Math.Min(sorted.Length - 1, Math.Max(0, (int)Math.Ceiling(q * sorted.Length) - 1))];
    return string.Create(CultureInfo.InvariantCulture,
        $"p50 {P(0.50):F2} ms  p90 {P(0.90):F2} ms  p99 {P(0.99):F2} ms  p99.9 {P(0.999):F2} ms  max {sorted[^1]:F2} ms");
}

static void PrintPhases(List<(double Rate, double Seconds)> phases, List<double> schedule, Outcome[] outcomes, double[] latencies, double recoveredP99)
{
    var start = 0.0;
    for (var p = 0; p < phases.Count; p++)
    {
        var end = start + phases[p].Seconds;
        var inPhase = Enumerable.Range(0, schedule.Count).Where(i => schedule[i] >= start && schedule[i] < end).ToList();
        var ok = inPhase.Where(i => outcomes[i] == Outcome.Ok).Select(i => latencies[i]).Order().ToArray();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"phase {p + 1} ({phases[p].Rate:F0} req/s for {phases[p].Seconds:F0} s): {inPhase.Count} requests, 2xx {ok.Length}, 429 {inPhase.Count(i => outcomes[i] == Outcome.Rejected)}, 5xx {inPhase.Count(i => outcomes[i] == Outcome.ServerError)}, errors {inPhase.Count(i => outcomes[i] == Outcome.TransportError)}; 2xx {Percentiles(ok)}"));
        if (p > 0)
        {
            // Recovery: the first second of this phase from which every later second is all 2xx with p99 under the bound.
            var seconds = (int)Math.Ceiling(phases[p].Seconds);
            var recoveredAt = -1;
            for (var s = seconds - 1; s >= 0; s--)
            {
                var bucket = inPhase.Where(i => schedule[i] >= start + s && schedule[i] < start + s + 1).ToList();
                var lat = bucket.Select(i => latencies[i]).Order().ToArray();
                var good = bucket.Count > 0 && bucket.All(i => outcomes[i] == Outcome.Ok)
                    && lat[Math.Min(lat.Length - 1, Math.Max(0, (int)Math.Ceiling(0.99 * lat.Length) - 1))] <= recoveredP99;
                if (!good)
                {
                    break;
                }

                recoveredAt = s;
            }

            Console.WriteLine(recoveredAt < 0
                ? $"  not recovered within the phase (some second held a non-2xx answer or a p99 over {recoveredP99} ms up to its end)"
                : $"  recovered {recoveredAt} s after the phase began (all 2xx, p99 <= {recoveredP99} ms from then on)");
        }

        start = end;
    }
}

static void PrintTimeline(List<double> schedule, Outcome[] outcomes, double[] latencies)
{
    var seconds = (int)Math.Ceiling(schedule[^1]) + 1;
    for (var s = 0; s < seconds; s++)
    {
        var bucket = Enumerable.Range(0, schedule.Count).Where(i => schedule[i] >= s && schedule[i] < s + 1).ToList();
        if (bucket.Count == 0)
        {
            continue;
        }

        var ok = bucket.Where(i => outcomes[i] == Outcome.Ok).Select(i => latencies[i]).Order().ToArray();
        var p99 = ok.Length == 0 ? double.NaN : ok[Math.Min(ok.Length - 1, Math.Max(0, (int)Math.Ceiling(0.99 * ok.Length) - 1))];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"t={s,4}s  sent {bucket.Count,5}  2xx {ok.Length,5}  429 {bucket.Count(i => outcomes[i] == Outcome.Rejected),5}  5xx {bucket.Count(i => outcomes[i] == Outcome.ServerError),4}  err {bucket.Count(i => outcomes[i] == Outcome.TransportError),4}  2xx p99 {p99,8:F1} ms"));
    }
}

// Two growth figures: from the first seconds (the old one, which counts the server sizing its heaps and filling its caches
// to the rate) and over the steady state, the way an operator reads a memory graph: the mean of the minute after the warm-up
// against the mean of the last minute. Means over a minute, not single samples, because the GC's sawtooth moves RSS by tens
// of MiB within seconds.
static void PrintRss(List<long> kib, int warmupSeconds)
{
    static double MiB(double k) => k / 1024.0;
    var first = kib[Math.Min(kib.Count - 1, 5)];
    var last = kib[^1];
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"server RSS: {MiB(first):F0} MiB after 5 s, {MiB(last):F0} MiB at the end, max {MiB(kib.Max()):F0} MiB; growth {(last - first) * 100.0 / first:F1} % ({kib.Count} samples)"));
    var minutes = kib.Chunk(60).Select((m, i) => string.Create(CultureInfo.InvariantCulture, $"{i + 1}: {MiB(m.Average()):F0}/{MiB(m.Max()):F0}"));
    Console.WriteLine($"server RSS per minute (mean/max MiB): {string.Join("  ", minutes)}");
    if (kib.Count >= warmupSeconds + 120)
    {
        var baseline = kib.Skip(warmupSeconds).Take(60).Average();
        var end = kib.TakeLast(60).Average();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"server RSS at steady state: {MiB(baseline):F0} MiB (mean of {warmupSeconds}-{warmupSeconds + 60} s) -> {MiB(end):F0} MiB (mean of the last 60 s): growth {(end - baseline) * 100.0 / baseline:F1} %"));
    }
}

static async Task SampleRssAsync(int pid, List<long> samples, CancellationToken cancellationToken)
{
    using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
    try
    {
        do
        {
            var status = $"/proc/{pid}/status";
            if (!File.Exists(status))
            {
                return;
            }

            var line = File.ReadLines(status).FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            if (line is not null && long.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], out var kib))
            {
                samples.Add(kib);
            }
        }
        while (await timer.WaitForNextTickAsync(cancellationToken));
    }
    catch (OperationCanceledException)
    {
        // The run ended.
    }
}

internal enum Outcome : byte
{
    TransportError,
    Ok,
    Rejected,
    ServerError,
    Other,
}
