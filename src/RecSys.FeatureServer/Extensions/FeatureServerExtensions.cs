using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using RecSys.FeatureStore;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.OnlineStores;
using RecSys.FeatureStore.Serving;
using RecSys.FeatureStore.Streaming;
using RecSys.FeatureStore.Telemetry;
using StackExchange.Redis;

namespace RecSys.FeatureServer.Extensions;

/// <summary>DI wiring of the FeatureServer.</summary>
public static class FeatureServerExtensions
{
    /// <summary>Longest request line accepted (the default 8 KB would cap feature requests near 600 entities).</summary>
    public const int MaxRequestLineBytes = 128 * 1024;

    public static IHostApplicationBuilder AddFeatureServer(this IHostApplicationBuilder builder)
    {
        builder.AddOnlineStoreClient();
        builder.Services.AddOptionsWithValidateOnStart<FeatureStoreOptions, FeatureStoreOptionsValidator>()
            .Bind(builder.Configuration.GetSection(FeatureStoreOptions.SectionName));

        // GET /v1/features/online names up to 1,000 entities of up to 70 characters in its query string.
        builder.Services.Configure<KestrelServerOptions>(o =>
        {
            o.Limits.MaxRequestLineSize = MaxRequestLineBytes;
            o.Limits.MaxRequestHeadersTotalSize = MaxRequestLineBytes + (32 * 1024);
        });
        builder.AddEventLog();
        builder.Services.TryAddSingleton<ProcessorState>();
        builder.Services.TryAddSingleton<FeatureStoreTelemetry>();
        builder.Services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<FeatureStoreOptions>>().Value;
            return new OnlineApplier(sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<FeatureStoreTelemetry>())
            {
                DedupeTtl = options.DedupeTtl,
                EventsPerScript = options.EventsPerScript,
            };
        });
        builder.AddOnlineFeatureStore();
        builder.Services.AddHostedService<StreamProcessor>();
        builder.Services.AddHealthChecks().AddCheck<EventLogHealthCheck>("event-log", tags: ["ready"]);
        return builder;
    }

    private sealed class EventLogHealthCheck(IEventLog log, ProcessorState state) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                var tail = log.TailPosition;
                return Task.FromResult(HealthCheckResult.Healthy($"tail {tail}, processed {state.Position}, processor {(state.Active ? "active" : "standing by")}"));
            }
            catch (Exception ex)
            {
                return Task.FromResult(HealthCheckResult.Unhealthy("event log unavailable", ex));
            }
        }
    }
}
