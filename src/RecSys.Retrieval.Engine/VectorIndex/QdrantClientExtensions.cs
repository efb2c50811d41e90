using System.Data.Common;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Qdrant.Client;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>
/// Qdrant client registration (there is no Aspire client integration for Qdrant here): a singleton <see cref="QdrantClient"/>
/// over the gRPC endpoint of a connection string, and a <c>qdrant</c> readiness health check. Calls are traced by the
/// HttpClient instrumentation of the service defaults (the client speaks gRPC over HttpClient).
/// </summary>
public static class QdrantClientExtensions
{
    public const string HealthCheckName = "qdrant";

    /// <summary>
    /// Registers the client of <c>ConnectionStrings:{connectionName}</c>: <c>Endpoint=http://host:6334[;Key=api-key]</c> (what the
    /// AppHost passes) or a bare gRPC URL. A missing or malformed connection string fails when the client is first resolved.
    /// </summary>
    public static IHostApplicationBuilder AddQdrantClient(this IHostApplicationBuilder builder, string connectionName, TimeSpan requestTimeout)
    {
        builder.Services.AddSingleton(sp =>
        {
            var (endpoint, key) = ParseConnectionString(builder.Configuration.GetConnectionString(connectionName), connectionName);
            return new QdrantClient(endpoint, key, requestTimeout, sp.GetService<ILoggerFactory>());
        });
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(
            HealthCheckName,
            sp => new QdrantHealthCheck(sp.GetRequiredService<QdrantClient>()),
            HealthStatus.Unhealthy,
            ["ready"],
            TimeSpan.FromSeconds(5)));
        return builder;
    }

    /// <summary>The gRPC endpoint and the optional API key of a connection string; <see cref="ArgumentException"/> when it has no usable endpoint.</summary>
    public static (Uri Endpoint, string? ApiKey) ParseConnectionString(string? connectionString, string connectionName = VectorIndexOptions.QdrantConnectionName)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new ArgumentException($"ConnectionStrings:{connectionName} is not set: it must hold the Qdrant gRPC endpoint (Endpoint=http://host:6334).", nameof(connectionString));
        }

        if (Uri.TryCreate(connectionString, UriKind.Absolute, out var bare) && bare.Scheme is "http" or "https")
        {
            return (bare, null);
        }

        var parts = new DbConnectionStringBuilder { ConnectionString = connectionString };
        if (!parts.TryGetValue("Endpoint", out var endpoint)
            || !Uri.TryCreate(endpoint?.ToString(), UriKind.Absolute, out var uri)
            || uri.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"ConnectionStrings:{connectionName} has no http(s) Endpoint: '{connectionString}'.", nameof(connectionString));
        }

        return (uri, parts.TryGetValue("Key", out var key) && key?.ToString() is { Length: > 0 } k ? k : null);
    }

    private sealed class QdrantHealthCheck(QdrantClient client) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                var reply = await client.HealthAsync(cancellationToken);
                return HealthCheckResult.Healthy($"Qdrant {reply.Version}");
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                return new HealthCheckResult(context.Registration.FailureStatus, "Qdrant does not answer", ex);
            }
        }
    }
}
