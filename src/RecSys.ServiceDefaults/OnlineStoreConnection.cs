using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using RecSys.Core.Domain;
using StackExchange.Redis;

namespace RecSys.ServiceDefaults;

/// <summary>
/// Registers the shared Redis-protocol connection to the online store (Garnet when embedded, Redis in containers mode),
/// from the connection string <c>ConnectionStrings:online-store</c>, with a health check.
/// </summary>
public static class OnlineStoreConnection
{
    public static IHostApplicationBuilder AddOnlineStore(this IHostApplicationBuilder builder)
    {
        var connectionString = builder.Configuration.GetConnectionString(ServiceNames.OnlineStore);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException(
                $"Connection string '{ServiceNames.OnlineStore}' is missing: set ConnectionStrings__{ServiceNames.OnlineStore} (host:port of a Redis-protocol server).");
        }

        builder.Services.AddSingleton<IConnectionMultiplexer>(_ => Connect(connectionString));
        builder.Services.AddHealthChecks().AddCheck<OnlineStoreHealthCheck>(ServiceNames.OnlineStore, tags: ["ready"]);
        return builder;
    }

    /// <summary>Connects with settings that suit a store that may start after the service.</summary>
    public static ConnectionMultiplexer Connect(string connectionString)
    {
        var options = ConfigurationOptions.Parse(NormalizeConnectionString(connectionString));
        options.AbortOnConnectFail = false;
        options.ConnectRetry = 5;
        options.ConnectTimeout = 5000;
        options.SyncTimeout = 10000;
        options.AsyncTimeout = 10000;
        options.AllowAdmin = true;
        return ConnectionMultiplexer.Connect(options);
    }

    /// <summary>Accepts <c>host:port</c>, <c>tcp://host:port</c> and <c>redis://host:port</c>.</summary>
    public static string NormalizeConnectionString(string value)
    {
        foreach (var scheme in new[] { "tcp://", "redis://" })
        {
            if (value.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            {
                return value[scheme.Length..].TrimEnd('/');
            }
        }

        return value;
    }

    private sealed class OnlineStoreHealthCheck(IConnectionMultiplexer redis) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                var latency = await redis.GetDatabase().PingAsync();
                return HealthCheckResult.Healthy($"ping {latency.TotalMilliseconds:F2} ms");
            }
            catch (Exception ex)
            {
                return HealthCheckResult.Unhealthy("online store unreachable", ex);
            }
        }
    }
}
