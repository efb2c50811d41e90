using System.Globalization;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RecSys.Core.Domain;

namespace RecSys.AppHost;

internal static class Extensions
{
    /// <summary>Passes a connection string to a service under <c>ConnectionStrings:{name}</c>.</summary>
    public static IResourceBuilder<T> WithConnectionString<T>(this IResourceBuilder<T> builder, string name, ReferenceExpression value)
        where T : IResourceWithEnvironment
        => builder.WithEnvironment(context => context.EnvironmentVariables[$"ConnectionStrings__{name}"] = value);

    /// <summary>
    /// Moves a service's http endpoint off its launch profile's port when <c>RecSys:Ports:{resource name}</c> is set, so that a
    /// second system (an evaluation next to a demo) can run on the same machine; unset keeps the profile's port.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithConfiguredPort(this IResourceBuilder<ProjectResource> builder, IConfiguration configuration)
    {
        var key = $"RecSys:Ports:{builder.Resource.Name}";
        if (configuration[key] is not { Length: > 0 } text)
        {
            return builder;
        }

        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            throw new InvalidOperationException($"{key} must be a TCP port, not '{text}'.");
        }

        return builder.WithEndpoint("http", endpoint => endpoint.Port = port);
    }

    /// <summary>
    /// With <paramref name="direct"/>, the service's http endpoint is not proxied: the service binds its launch profile's (or
    /// configured) port itself, so callers and other services reach it without DCP copying every byte in between.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithDirectHttpEndpoint(this IResourceBuilder<ProjectResource> builder, bool direct)
    {
        if (!direct)
        {
            return builder;
        }

        return builder.WithEndpoint("http", endpoint =>
        {
            endpoint.IsProxied = false;
            // Unproxied, the address callers use is the one the service listens on.
            endpoint.TargetPort = endpoint.Port;
        });
    }

    /// <summary>
    /// Sets every service's metric export interval (OTEL_METRIC_EXPORT_INTERVAL, milliseconds) over the AppHost's 1-s default;
    /// call once every project is added.
    /// </summary>
    public static void WithMetricExportInterval(this IDistributedApplicationBuilder builder, TimeSpan interval)
    {
        if (!builder.ExecutionContext.IsRunMode)
        {
            // A deployment configures its own collector.
            return;
        }

        var milliseconds = ((long)interval.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        foreach (var project in builder.Resources.OfType<ProjectResource>().ToList())
        {
            builder.CreateResourceBuilder(project).WithEnvironment("OTEL_METRIC_EXPORT_INTERVAL", milliseconds);
        }
    }

    /// <summary>Embedded online store: Garnet hosted by a .NET project, persisted under the data root, on a fixed port.</summary>
    public static (IResource Resource, ReferenceExpression ConnectionString) AddEmbeddedOnlineStore(
        this IDistributedApplicationBuilder builder, RecSysSettings settings)
    {
        var garnet = builder.AddProject<Projects.RecSys_OnlineStore>("garnet")
            .WithConfiguredPort(builder.Configuration)
            .WithEndpoint(name: "resp", port: settings.OnlineStorePort, targetPort: settings.OnlineStorePort, scheme: "tcp", isProxied: false)
            .WithEnvironment("OnlineStore__Port", settings.OnlineStorePort.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .WithEnvironment("OnlineStore__DataDirectory", settings.DataFolder("garnet"))
            .WithHttpHealthCheck("/health");
        var resp = garnet.GetEndpoint("resp");
        return (garnet.Resource, ReferenceExpression.Create($"{resp.Property(EndpointProperty.Host)}:{resp.Property(EndpointProperty.Port)}"));
    }

    /// <summary>Containers: Redis as the online store, persisted in a volume.</summary>
    public static (IResource Resource, ReferenceExpression ConnectionString) AddRedisOnlineStore(this IDistributedApplicationBuilder builder)
    {
        var redis = builder.AddRedis("redis").WithDataVolume("recsys-redis");
        return (redis.Resource, redis.Resource.ConnectionStringExpression);
    }

    /// <summary>
    /// Containers: a single-node Kafka broker in KRaft mode (no ZooKeeper) with two listeners, each advertising its own
    /// address: <c>INTERNAL</c> (<c>kafka:29092</c>, for containers on the app's network, by resource name) and
    /// <c>EXTERNAL</c> (<c>localhost:9092</c>, for the services that run on the host). Auto-creation of topics is off: the
    /// event log's topic is created by the one-shot <c>kafka-init</c> container, which the FeatureServer waits for. The broker's
    /// health check connects to the external listener.
    /// </summary>
    public static KafkaResources AddKafkaBroker(this IDistributedApplicationBuilder builder, RecSysSettings settings)
    {
        var internalAddress = $"{ServiceNames.Kafka}:{KafkaResources.InternalPort}";
        var listeners = $"INTERNAL://:{KafkaResources.InternalPort},EXTERNAL://:{KafkaResources.ExternalPort},CONTROLLER://:9093";
        var advertised = $"INTERNAL://{internalAddress},EXTERNAL://localhost:{KafkaResources.ExternalPort}";
        var healthCheck = ServiceNames.Kafka + "-listener";
        var kafka = builder.AddContainer(ServiceNames.Kafka, "apache/kafka", KafkaResources.ImageTag)
            .WithEndpoint(name: KafkaResources.ExternalEndpoint, port: KafkaResources.ExternalPort, targetPort: KafkaResources.ExternalPort, scheme: "tcp", isProxied: false)
            .WithEndpoint(name: KafkaResources.InternalEndpoint, targetPort: KafkaResources.InternalPort, scheme: "tcp")
            .WithEnvironment("KAFKA_NODE_ID", "1")
            .WithEnvironment("KAFKA_PROCESS_ROLES", "broker,controller")
            .WithEnvironment("KAFKA_LISTENERS", listeners)
            .WithEnvironment("KAFKA_ADVERTISED_LISTENERS", advertised)
            .WithEnvironment("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT")
            .WithEnvironment("KAFKA_INTER_BROKER_LISTENER_NAME", "INTERNAL")
            .WithEnvironment("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
            .WithEnvironment("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
            .WithEnvironment("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
            .WithEnvironment("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
            .WithEnvironment("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
            .WithEnvironment("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
            .WithVolume("recsys-kafka", "/var/lib/kafka/data")
            .WithHealthCheck(healthCheck);
        var external = kafka.GetEndpoint(KafkaResources.ExternalEndpoint);
        builder.Services.AddHealthChecks().AddAsyncCheck(healthCheck, async cancellationToken =>
        {
            // The external listener accepts connections once the KRaft controller and the broker are up.
            try
            {
                using var tcp = new TcpClient();
                await tcp.ConnectAsync(external.Host, external.Port, cancellationToken);
                return HealthCheckResult.Healthy();
            }
            catch (SocketException ex)
            {
                return HealthCheckResult.Unhealthy($"Kafka's external listener {external.Host}:{external.Port} refuses connections", ex);
            }
        });

        // One shot, from the same image: creates the event log's topic with its partitions (a no-op when it exists).
        var init = builder.AddContainer(KafkaResources.InitName, "apache/kafka", KafkaResources.ImageTag)
            .WithEntrypoint("/bin/sh")
            .WithArgs("-c", KafkaResources.CreateTopicScript)
            .WithEnvironment("KAFKA_BOOTSTRAP", internalAddress)
            .WithEnvironment("KAFKA_TOPIC", settings.KafkaTopic)
            .WithEnvironment("KAFKA_PARTITIONS", settings.KafkaPartitions.ToString(CultureInfo.InvariantCulture))
            .WaitFor(kafka);
        return new KafkaResources(kafka, init, ReferenceExpression.Create($"{external.Property(EndpointProperty.Host)}:{external.Property(EndpointProperty.Port)}"));
    }

    /// <summary>
    /// Containers: Qdrant, ready when <c>/readyz</c> answers; Retrieval's vector index runs on it (one collection per shard,
    /// behind an alias) when it receives the gRPC endpoint as <c>ConnectionStrings:qdrant</c>.
    /// </summary>
    public static (IResourceBuilder<ContainerResource> Resource, ReferenceExpression ConnectionString) AddQdrant(this IDistributedApplicationBuilder builder)
    {
        var qdrant = builder.AddContainer(ServiceNames.Qdrant, "qdrant/qdrant", "v1.15.5")
            .WithHttpEndpoint(targetPort: 6333, name: "http")
            .WithEndpoint(targetPort: 6334, name: "grpc", scheme: "http")
            .WithVolume("recsys-qdrant", "/qdrant/storage")
            .WithHttpHealthCheck("/readyz", endpointName: "http");
        var grpc = qdrant.GetEndpoint("grpc");
        return (qdrant, ReferenceExpression.Create($"Endpoint={grpc}"));
    }
}

/// <summary>The Kafka broker, its topic-creating init container, and the bootstrap servers the host's services use.</summary>
internal sealed record KafkaResources(
    IResourceBuilder<ContainerResource> Broker,
    IResourceBuilder<ContainerResource> TopicInit,
    ReferenceExpression BootstrapServers)
{
    public const string ImageTag = "4.1.0";
    public const string InitName = "kafka-init";
    public const string ExternalEndpoint = "external";
    public const string InternalEndpoint = "internal";
    public const int ExternalPort = 9092;
    public const int InternalPort = 29092;

    /// <summary>Fails (non-zero exit) when the broker does not answer, so the FeatureServer never starts without its topic.</summary>
    public const string CreateTopicScript =
        "/opt/kafka/bin/kafka-topics.sh --bootstrap-server \"$KAFKA_BOOTSTRAP\" --create --if-not-exists " +
        "--topic \"$KAFKA_TOPIC\" --partitions \"$KAFKA_PARTITIONS\" --replication-factor 1";
}
