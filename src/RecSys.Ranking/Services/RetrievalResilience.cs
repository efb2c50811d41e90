using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Polly;

namespace RecSys.Ranking.Services;

/// <summary>
/// The resilience pipeline of the Retrieval client, in place of the standard handler every HttpClient gets. The standard
/// one retries a failed call after a 2 s exponential backoff (its default delay), and a request's whole budget is 2 s
/// (<c>Ranking:RetrievalTimeout</c>): every request whose first attempt failed transiently waited out the budget and then
/// fell back to trending, the ~1 % of 2 s responses under load. Here the budget bounds the pipeline, one attempt is
/// bounded well inside it, and retries come after milliseconds.
/// </summary>
public static class RetrievalResilience
{
    public const string PipelineName = "retrieval";

    public static IHttpClientBuilder AddRetrievalResilience(this IHttpClientBuilder http)
    {
        ArgumentNullException.ThrowIfNull(http);
        // The one way to drop the standard handler that ConfigureHttpClientDefaults added to every client; it is marked
        // experimental, and the Ranking tests (RetrievalResilienceTests) pin its effect.
#pragma warning disable EXTEXP0001
        http.RemoveAllResilienceHandlers();
#pragma warning restore EXTEXP0001
        http.AddResilienceHandler(PipelineName, static (pipeline, context) =>
        {
            var o = context.ServiceProvider.GetRequiredService<IOptions<RankingOptions>>().Value;
            pipeline
                .AddTimeout(o.RetrievalTimeout)
                .AddRetry(new HttpRetryStrategyOptions
                {
                    MaxRetryAttempts = Math.Max(1, o.RetrievalRetries),
                    ShouldHandle = o.RetrievalRetries == 0 ? static _ => PredicateResult.False() : new HttpRetryStrategyOptions().ShouldHandle,
                    BackoffType = DelayBackoffType.Constant,
                    Delay = o.RetrievalRetryDelay,
                    UseJitter = true,
                    // Retrieval's Retry-After would be seconds: longer than the whole budget.
                    ShouldRetryAfterHeader = false,
                })
                .AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
                {
                    FailureRatio = 0.5,
                    MinimumThroughput = 20,
                    SamplingDuration = TimeSpan.FromSeconds(10),
                    BreakDuration = TimeSpan.FromSeconds(5),
                })
                .AddTimeout(o.RetrievalAttemptTimeout);
        });
        return http;
    }
}
