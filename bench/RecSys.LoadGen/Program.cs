using System.Diagnostics;
using System.Globalization;
using RecSys.Bench.Common;

// Open-loop load generator for /v1/recommendations: requests are started on a fixed schedule whatever the latency of
// earlier ones, and latency is measured from the scheduled start, so a slow server cannot hide queueing delay
// (no coordinated omission).
var commandLine = new BenchCommandLine("dotnet run -c Release --project bench/RecSys.LoadGen -- [options]")
    .Option("--rate", "N", "requests started per second (default 50)")
    .Option("--seconds", "S", "duration (default 30)")
    .Option("--users", "N", "users u0..u(N-1), drawn at random (default 1000)")
    .Option("--count", "N", "items asked per request (default 20)")
    .Option("--url", "URL", "the Ranking service (default http://localhost:5100)");
return await commandLine.RunAsync(args, RunAsync);

static async Task<int> RunAsync(ParsedArguments options)
{
    var rate = options.GetDouble("--rate", 50.0);
    var seconds = options.GetDouble("--seconds", 30.0);
    var users = options.GetInt("--users", 1000);
    var count = options.GetInt("--count", 20);
    var baseUrl = options.GetString("--url", "http://localhost:5100");
    ParsedArguments.Require(rate > 0 && seconds > 0 && users > 0 && count > 0, "--rate, --seconds, --users and --count must be positive");
    ParsedArguments.Require(Uri.TryCreate(baseUrl, UriKind.Absolute, out var baseUri), $"--url needs an absolute URL, not '{baseUrl}'");
    ParsedArguments.Require(rate * seconds >= 1, "--rate x --seconds must be at least one request");

    using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
    {
        BaseAddress = baseUri,
        Timeout = TimeSpan.FromSeconds(10),
    };

    var total = (int)(rate * seconds);
    var latencies = new double[total];
    var failures = 0;
    var random = new Random(1);
    var userOf = Enumerable.Range(0, total).Select(_ => random.Next(users)).ToArray();
    var tasks = new Task[total];
    var clock = Stopwatch.StartNew();
    var interval = 1.0 / rate;
    for (var n = 0; n < total; n++)
    {
        var scheduled = n * interval;
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
                if (!response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref failures);
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                Interlocked.Increment(ref failures);
            }

            latencies[index] = (clock.Elapsed.TotalSeconds - scheduled) * 1000;
        });
    }

    await Task.WhenAll(tasks);
    var elapsed = clock.Elapsed.TotalSeconds;
    Array.Sort(latencies);
    double P(double q) => latencies[Math.Min(latencies.Length - 1, (int)Math.Ceiling(q * latencies.Length) - 1)];
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"requests {total}  failed {failures}  achieved {total / elapsed:F1} req/s  p50 {P(0.50):F2} ms  p90 {P(0.90):F2} ms  p99 {P(0.99):F2} ms  p99.9 {P(0.999):F2} ms  max {latencies[^1]:F2} ms"));
    return failures == 0 ? 0 : 1;
}
