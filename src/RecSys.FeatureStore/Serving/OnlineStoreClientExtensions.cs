using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RecSys.Core.Domain;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Serving;

/// <summary>How a service connects to the online store and gets the typed readers over it.</summary>
public static class OnlineStoreClientExtensions
{
    /// <summary>Longest a health probe waits for the store before reporting it unhealthy.</summary>
    public static readonly TimeSpan HealthCheckTimeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Registers the online-store connection through Aspire's Redis client integration (configuration binding under
    /// <c>Aspire:StackExchange:Redis</c>, tracing) with a health check named <c>online-store</c>, keyed by and read from the
    /// connection string <c>ConnectionStrings:online-store</c> (Garnet when embedded, Redis in containers mode), and makes it
    /// the default <see cref="IConnectionMultiplexer"/>; then the serving readers: <see cref="CandidateSignalReader"/>,
    /// <see cref="EligibilityFilter"/>, <see cref="ItemMetadataReader"/>, <see cref="ItemCatalogReader"/> and <see cref="EmbeddingStore"/>.
    /// </summary>
    /// <param name="builder">The host builder.</param>
    /// <param name="allowAdmin">Only for a service that runs admin commands (none of ours does today).</param>
    /// <param name="storeDownStatus">
    /// What the <c>online-store</c> check reports when the store is away: unhealthy by default; degraded for a service
    /// that still answers without it (Ranking serves its last-known popular list).
    /// </param>
    public static IHostApplicationBuilder AddOnlineStoreClient(
        this IHostApplicationBuilder builder, bool allowAdmin = false, HealthStatus storeDownStatus = HealthStatus.Unhealthy)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString(ServiceNames.OnlineStore)))
        {
            throw new InvalidOperationException(
                $"Connection string '{ServiceNames.OnlineStore}' is missing: set ConnectionStrings__{ServiceNames.OnlineStore} (host:port of a Redis-protocol server).");
        }

        // Aspire's health check would be named after the client type; ours keeps the resource's name and a hard deadline, so
        // that a hung store cannot hold /health (the Redis check waited out the client's 10 s timeout on a frozen store).
        builder.AddKeyedRedisClient(ServiceNames.OnlineStore, configureSettings: settings => settings.DisableHealthChecks = true, configureOptions: options =>
        {
            // The store may start after the service (or restart under it): keep retrying instead of failing the host.
            options.AbortOnConnectFail = false;
            options.ConnectRetry = 5;
            options.ConnectTimeout = 5000;
            options.SyncTimeout = 10000;
            options.AsyncTimeout = 10000;
            options.AllowAdmin = allowAdmin;
        });
        builder.Services.TryAddSingleton(sp => sp.GetRequiredKeyedService<IConnectionMultiplexer>(ServiceNames.OnlineStore));
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(
            ServiceNames.OnlineStore,
            sp => new OnlineStoreHealthCheck(sp.GetRequiredKeyedService<IConnectionMultiplexer>(ServiceNames.OnlineStore), HealthCheckTimeout, storeDownStatus),
            storeDownStatus,
            ["ready"],
            HealthCheckTimeout + TimeSpan.FromSeconds(1)));
        builder.Services.TryAddSingleton<CandidateSignalReader>();
        builder.Services.TryAddSingleton<EligibilityFilter>();
        builder.Services.TryAddSingleton<ItemMetadataReader>();
        builder.Services.TryAddSingleton<ItemCatalogReader>();
        builder.Services.TryAddSingleton<EmbeddingStore>();
        return builder;
    }
}
