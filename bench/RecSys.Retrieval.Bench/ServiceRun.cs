using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RecSys.Bench.Common;
using RecSys.Candidates;
using RecSys.Core.Contracts;
using RecSys.Retrieval.Apis;
using RecSys.Retrieval.VectorIndex;

namespace RecSys.Retrieval.Bench;

/// <summary>
/// The Retrieval service's real web host (its <c>Program</c>: service defaults, security, JSON options, problem details,
/// routing, the candidates endpoint and its compact result) in process on the test server, driven with
/// <c>POST /v1/candidates</c> as Ranking sends it (JSON body, compact wire format accepted). What the in-process run of
/// <see cref="CostRun"/> leaves out shows here: request parsing and validation, authentication, endpoint dispatch, response
/// writing, the middleware and the telemetry around them. Kestrel's socket and HTTP/1.1 parsing are in it only with
/// <c>--kestrel PORT</c> (the service on Kestrel at a loopback port, the bench's HTTP client in the same process).
/// </summary>
internal sealed class ServiceRun(CostSettings settings, TextWriter log)
{
    /// <summary>
    /// The response body, read into one buffer kept across requests: a new ~100 KB array per response would be a
    /// large-object-heap allocation of the bench's own (the client is Ranking, in another process), and its collections
    /// would be counted against the service.
    /// </summary>
    private readonly MemoryStream _body = new(1 << 18);

    public async Task<CostReport> RunAsync(
        string store, int dimensions, string indexDirectory, IReadOnlyDictionary<string, string?> extra, StreamWriter? digest, CancellationToken cancellationToken)
    {
        var serviceSettings = BenchHost.Settings(store, dimensions, indexDirectory, extra);
        // As bench/scripts/ranking-cost.sh runs the service; a --set overrides it.
        serviceSettings.TryAdd("RecSys:Security:Mode", "Open");
        await using var host = new RetrievalServiceHost(serviceSettings);
        HttpClient client;
        if (settings.KestrelPort > 0)
        {
            // Kestrel on a loopback socket, as the service runs: its HTTP/1.1 parsing and response pipe (with the output lock
            // its response writer takes on every GetSpan/Advance) are in the figures, and so is this client's socket work.
            host.UseKestrel(settings.KestrelPort);
            host.StartServer();
            client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{settings.KestrelPort}") };
        }
        else
        {
            client = host.CreateClient();
        }

        using var disposeClient = client;
        await BenchHost.WaitForIndexAsync(host.Services.GetRequiredService<VectorIndexManager>(), BenchWorld.EmbeddingVersion(dimensions), TimeSpan.FromMinutes(5));
        log.WriteLine($"service host up (security {serviceSettings["RecSys:Security:Mode"]}, {(settings.KestrelPort > 0 ? $"Kestrel on port {settings.KestrelPort}" : "test server")})");

        for (var i = 0; i < settings.Warmup; i++)
        {
            await PostAsync(client, CostRun.UserAt(i + settings.Requests, settings.Users), cancellationToken);
        }

        var requestCpu = 0.0;
        var digestCpu = 0.0;
        var digestAllocated = 0L;
        var bytes = 0L;
        var allocated0 = GC.GetTotalAllocatedBytes(precise: true);
        var gc0 = GC.CollectionCount(0) + GC.CollectionCount(1) + GC.CollectionCount(2);
        // Thread-pool work items and the process's context switches over the window: the request's thread hops.
        var hops0 = ThreadHops.Read();
        var window0 = CpuClocks.ProcessMilliseconds();
        var pacer = new CostRun.Pacer(settings.Rate);
        var latencyMs = new double[settings.Requests];
        var candidates = 0L;
        for (var i = 0; i < settings.Requests; i++)
        {
            await pacer.WaitAsync(cancellationToken);
            var c0 = CpuClocks.ProcessMilliseconds();
            var t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            var body = await PostAsync(client, CostRun.UserAt(i, settings.Users), cancellationToken);
            latencyMs[i] = System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            var c1 = CpuClocks.ProcessMilliseconds();
            requestCpu += c1 - c0;
            bytes += body.Length;
            var allocated1 = GC.GetAllocatedBytesForCurrentThread();
            // Decoding and the digest are the bench's bookkeeping (Ranking's side of the wire): taken out of the figures.
            var response = CandidateWireFormat.Read(body.Span);
            candidates += response.Candidates.Count;
            digest?.WriteLine(CostRun.Digest(response));
            digestAllocated += GC.GetAllocatedBytesForCurrentThread() - allocated1;
            digestCpu += CpuClocks.ProcessMilliseconds() - c1;
        }

        var windowCpu = CpuClocks.ProcessMilliseconds() - window0 - digestCpu;
        var hops = ThreadHops.Read() - hops0;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated0 - digestAllocated;
        var gcs = GC.CollectionCount(0) + GC.CollectionCount(1) + GC.CollectionCount(2) - gc0;
        var n = settings.Requests;
        log.WriteLine($"service path: {n} requests at {settings.Rate} req/s, {candidates / (double)n:N0} candidates and {bytes / (double)n / 1024:N0} KiB each: " +
            $"{windowCpu / n:F2} CPU-ms per request over the window, {requestCpu / n:F2} in the requests, " +
            $"{allocated / (double)n / 1024:N0} KiB allocated per request, {gcs} GCs");
        Array.Sort(latencyMs);
        log.WriteLine($"thread hops per request: {hops.WorkItems / (double)n:F1} thread-pool work items, {hops.ContextSwitches / (double)n:F1} context switches ({hops.Voluntary / (double)n:F1} voluntary)");
        log.WriteLine($"service wall time per request (one at a time): p50 {CostRun.Percentile(latencyMs, 0.50):F2} ms, " +
            $"p90 {CostRun.Percentile(latencyMs, 0.90):F2} ms, p99 {CostRun.Percentile(latencyMs, 0.99):F2} ms");
        return new CostReport(n, settings.Rate, settings.Count, candidates / (double)n, windowCpu / n, requestCpu / n, allocated / (double)n, gcs,
            new Dictionary<string, double>(StringComparer.Ordinal), null);
    }

    private async Task<ReadOnlyMemory<byte>> PostAsync(HttpClient client, string user, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/candidates")
        {
            Content = JsonContent.Create(new CandidateRequest(user, null, settings.Count, null)),
        };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(CandidateWireFormat.MediaType));
        using var response = await client.SendAsync(request, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"POST /v1/candidates for {user}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}");
        }

        _body.SetLength(0);
        await response.Content.CopyToAsync(_body, cancellationToken);
        return _body.GetBuffer().AsMemory(0, (int)_body.Length);
    }

    /// <summary>The service's own <c>Program</c> (found through a public type of its assembly) with the bench's settings and clock.</summary>
    private sealed class RetrievalServiceHost(IReadOnlyDictionary<string, string?> settings) : WebApplicationFactory<CompactCandidatesResult>
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            builder.UseEnvironment(Environments.Production);
            // The service's project folder in the checkout this bench was built in (bench/RecSys.Retrieval.Bench/bin/Release/net10.0/).
            builder.UseContentRoot(Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../src/RecSys.Retrieval")));
            foreach (var (key, value) in settings)
            {
                builder.UseSetting(key, value);
            }

            builder.ConfigureTestServices(services => services.AddSingleton<TimeProvider>(new FixedNowTimeProvider(BenchWorld.RequestTime)));
        }
    }
}
