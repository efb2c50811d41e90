using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using RecSys.FeatureStore.Deletion;

namespace RecSys.FeatureStore.EventLog;

/// <summary>Chooses and registers the <see cref="IEventLog"/>.</summary>
public static class EventLogExtensions
{
    /// <summary>
    /// Registers <see cref="KafkaEventLog"/> (options <see cref="KafkaEventLogOptions.SectionName"/>, with a <c>kafka</c>
    /// health check) when the connection string <c>ConnectionStrings:kafka</c> is present, else <see cref="FasterEventLog"/>.
    /// Either is served as <see cref="IEventLog"/> through <see cref="DeletedUserFilteringEventLog"/>, so every reader of the
    /// log in the process skips the events of deleted users; the deletion services (<see cref="DeletedUsers"/>,
    /// <see cref="UserDeletion"/>, <see cref="DeletedUsersSync"/>) are registered with it.
    /// </summary>
    public static IHostApplicationBuilder AddEventLog(this IHostApplicationBuilder builder)
    {
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<DeletedUsers>();
        builder.Services.AddSingleton<UserDeletion>();
        builder.Services.AddHostedService<DeletedUsersSync>();
        var bootstrap = builder.Configuration.GetConnectionString(KafkaEventLogOptions.ConnectionStringName);
        if (string.IsNullOrWhiteSpace(bootstrap))
        {
            builder.Services.AddSingleton<FasterEventLog>();
            builder.Services.AddSingleton<IEventLog>(sp => new DeletedUserFilteringEventLog(sp.GetRequiredService<FasterEventLog>(), sp.GetRequiredService<DeletedUsers>()));
            return builder;
        }

        builder.Services.AddOptionsWithValidateOnStart<KafkaEventLogOptions, KafkaEventLogOptionsValidator>()
            .Bind(builder.Configuration.GetSection(KafkaEventLogOptions.SectionName))
            .Configure(o => o.BootstrapServers = bootstrap);
        builder.Services.AddSingleton<KafkaEventLog>();
        builder.Services.AddSingleton<IEventLog>(sp => new DeletedUserFilteringEventLog(sp.GetRequiredService<KafkaEventLog>(), sp.GetRequiredService<DeletedUsers>()));
        builder.Services.AddHealthChecks().AddCheck<KafkaHealthCheck>("kafka", tags: ["ready"]);
        return builder;
    }

    private sealed class KafkaHealthCheck(KafkaEventLog log, IOptions<KafkaEventLogOptions> options) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                // The metadata request blocks for up to the request timeout.
                var (healthy, description) = await Task.Run(
                    () => (log.CheckTopic(out var text), text),
                    cancellationToken).WaitAsync(options.Value.RequestTimeout + TimeSpan.FromSeconds(1), cancellationToken);
                return healthy ? HealthCheckResult.Healthy(description) : HealthCheckResult.Unhealthy(description);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                return HealthCheckResult.Unhealthy("Kafka unavailable", ex);
            }
        }
    }
}
