using Microsoft.Extensions.Options;
using RecSys.Candidates;
using RecSys.Retrieval.Diagnostics;

namespace RecSys.Retrieval.Services;

/// <summary>
/// Runs one retrieval before the service takes traffic: connects to the online store and compiles the request path, so that
/// the first real requests do not spend their source timeouts on connection set-up and JIT. Failures are logged, never fatal
/// (the store may start after the service).
/// </summary>
internal sealed class RetrievalWarmup(
    IServiceProvider services,
    IOptions<RetrievalOptions> options,
    ILogger<RetrievalWarmup> logger) : IHostedService
{
    private const string WarmupUser = "retrieval-warmup";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        if (o.WarmupTimeout <= TimeSpan.Zero)
        {
            return;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(o.WarmupTimeout);
        try
        {
            var retriever = services.GetRequiredService<CandidateRetriever>();
            var response = await retriever.RetrieveAsync(WarmupUser, null, 10, new HashSet<string>(), timeout.Token)
                .WaitAsync(timeout.Token);
            RetrievalLog.WarmedUp(logger, response.ElapsedMs, string.Join(", ", response.Degraded));
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            RetrievalLog.WarmupFailed(logger, ex);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
