using RecSys.Core.Domain;

namespace RecSys.AppHost;

internal static class Extensions
{
    /// <summary>Passes a connection string to a service under <c>ConnectionStrings:{name}</c>.</summary>
    public static IResourceBuilder<T> WithConnectionString<T>(this IResourceBuilder<T> builder, string name, ReferenceExpression value)
        where T : IResourceWithEnvironment
        => builder.WithEnvironment(context => context.EnvironmentVariables[$"ConnectionStrings__{name}"] = value);

    /// <summary>Embedded online store: Garnet hosted by a .NET project, persisted under the data root, on a fixed port.</summary>
    public static (IResource Resource, ReferenceExpression ConnectionString) AddEmbeddedOnlineStore(
        this IDistributedApplicationBuilder builder, RecSysSettings settings)
    {
        var garnet = builder.AddProject<Projects.RecSys_OnlineStore>("garnet")
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

    /// <summary>Containers: a single-node Kafka broker in KRaft mode (no ZooKeeper).</summary>
    public static (IResource Resource, ReferenceExpression ConnectionString) AddKafkaBroker(this IDistributedApplicationBuilder builder)
    {
        const int port = 9092;
        var kafka = builder.AddContainer(ServiceNames.Kafka, "apache/kafka", "4.1.0")
            .WithEndpoint(name: "broker", port: port, targetPort: port, scheme: "tcp", isProxied: false)
            .WithEnvironment("KAFKA_NODE_ID", "1")
            .WithEnvironment("KAFKA_PROCESS_ROLES", "broker,controller")
            .WithEnvironment("KAFKA_LISTENERS", "PLAINTEXT://:9092,CONTROLLER://:9093")
            .WithEnvironment("KAFKA_ADVERTISED_LISTENERS", "PLAINTEXT://localhost:9092")
            .WithEnvironment("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
            .WithEnvironment("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT")
            .WithEnvironment("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
            .WithEnvironment("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
            .WithEnvironment("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
            .WithEnvironment("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
            .WithEnvironment("KAFKA_NUM_PARTITIONS", "8")
            .WithVolume("recsys-kafka", "/var/lib/kafka/data");
        var broker = kafka.GetEndpoint("broker");
        return (kafka.Resource, ReferenceExpression.Create($"{broker.Property(EndpointProperty.Host)}:{broker.Property(EndpointProperty.Port)}"));
    }

    /// <summary>Containers: Qdrant; the Retrieval service keeps one collection per index shard in it.</summary>
    public static (IResource Resource, ReferenceExpression ConnectionString) AddQdrant(this IDistributedApplicationBuilder builder)
    {
        var qdrant = builder.AddContainer(ServiceNames.Qdrant, "qdrant/qdrant", "v1.15.5")
            .WithHttpEndpoint(targetPort: 6333, name: "http")
            .WithEndpoint(targetPort: 6334, name: "grpc", scheme: "http")
            .WithVolume("recsys-qdrant", "/qdrant/storage")
            .WithHttpHealthCheck("/readyz", endpointName: "http");
        var grpc = qdrant.GetEndpoint("grpc");
        return (qdrant.Resource, ReferenceExpression.Create($"Endpoint={grpc}"));
    }
}
