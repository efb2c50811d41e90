using Microsoft.Extensions.Configuration;
using RecSys.AppHost;
using RecSys.Core.Domain;

namespace RecSys.IntegrationTests;

/// <summary>The app model in both modes, built without starting anything (no container runtime is needed).</summary>
public sealed class AppModelTests
{
    [Fact]
    public async Task Containers_mode_has_redis_kafka_and_qdrant_passed_to_the_services_as_connection_strings()
    {
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.RecSys_AppHost>(
            ["RecSys:Infrastructure=containers", "RecSys:Seed:Enabled=false"]);

        var containers = builder.Resources.OfType<ContainerResource>().Select(r => r.Name).ToHashSet();
        Assert.Superset(new HashSet<string> { "redis", ServiceNames.Kafka, ServiceNames.Qdrant }, containers);
        Assert.DoesNotContain(builder.Resources, r => r.Name == "garnet");

        var featureServer = await EnvironmentOf(builder, ServiceNames.FeatureServer);
        Assert.Contains("redis", featureServer[$"ConnectionStrings__{ServiceNames.OnlineStore}"], StringComparison.Ordinal);
        Assert.Contains(ServiceNames.Kafka, featureServer[$"ConnectionStrings__{ServiceNames.Kafka}"], StringComparison.Ordinal);

        var retrieval = await EnvironmentOf(builder, ServiceNames.Retrieval);
        Assert.Contains("redis", retrieval[$"ConnectionStrings__{ServiceNames.OnlineStore}"], StringComparison.Ordinal);
        Assert.Contains(ServiceNames.Qdrant, retrieval[$"ConnectionStrings__{ServiceNames.Qdrant}"], StringComparison.Ordinal);

        var ranking = await EnvironmentOf(builder, ServiceNames.Ranking);
        Assert.Contains(ranking.Keys, k => k.StartsWith("services__retrieval__", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Containers_mode_waits_for_healthy_kafka_and_qdrant_and_for_the_topic_to_be_created()
    {
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.RecSys_AppHost>(
            ["RecSys:Infrastructure=containers", "RecSys:Seed:Enabled=false", "RecSys:Kafka:Topic=events-x", "RecSys:Kafka:Partitions=12"]);

        var kafka = Resource(builder, ServiceNames.Kafka);
        var qdrant = Resource(builder, ServiceNames.Qdrant);
        var init = (ContainerResource)Resource(builder, KafkaResources.InitName);
        Assert.NotEmpty(kafka.Annotations.OfType<HealthCheckAnnotation>());
        Assert.NotEmpty(qdrant.Annotations.OfType<HealthCheckAnnotation>());

        var featureServer = Resource(builder, ServiceNames.FeatureServer);
        Assert.Contains(Waits(featureServer), w => w.Resource == kafka && w.WaitType == WaitType.WaitUntilHealthy);
        Assert.Contains(Waits(featureServer), w => w.Resource == init && w.WaitType == WaitType.WaitForCompletion);
        Assert.Contains(Waits(Resource(builder, ServiceNames.Retrieval)), w => w.Resource == qdrant && w.WaitType == WaitType.WaitUntilHealthy);
        Assert.Contains(Waits(init), w => w.Resource == kafka && w.WaitType == WaitType.WaitUntilHealthy);

        // The init container creates the FeatureServer's topic, from the broker's image, over the internal listener.
        var initEnv = await EnvironmentOf(builder, KafkaResources.InitName);
        Assert.Equal("/bin/sh", init.Entrypoint);
        Assert.Equal("apache/kafka", init.Annotations.OfType<ContainerImageAnnotation>().Single().Image);
        Assert.Equal("events-x", initEnv["KAFKA_TOPIC"]);
        Assert.Equal("12", initEnv["KAFKA_PARTITIONS"]);
        Assert.Equal($"{ServiceNames.Kafka}:{KafkaResources.InternalPort}", initEnv["KAFKA_BOOTSTRAP"]);
        var featureServerEnv = await EnvironmentOf(builder, ServiceNames.FeatureServer);
        Assert.Equal("events-x", featureServerEnv["FeatureServer__Kafka__Topic"]);

        // Two listeners, each advertising an address its clients can reach; topics are never auto-created.
        var kafkaEnv = await EnvironmentOf(builder, ServiceNames.Kafka);
        Assert.Equal($"INTERNAL://{ServiceNames.Kafka}:29092,EXTERNAL://localhost:9092", kafkaEnv["KAFKA_ADVERTISED_LISTENERS"]);
        Assert.Equal("INTERNAL://:29092,EXTERNAL://:9092,CONTROLLER://:9093", kafkaEnv["KAFKA_LISTENERS"]);
        Assert.Equal("INTERNAL", kafkaEnv["KAFKA_INTER_BROKER_LISTENER_NAME"]);
        Assert.Equal("false", kafkaEnv["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]);
        Assert.Contains(KafkaResources.ExternalEndpoint, featureServerEnv[$"ConnectionStrings__{ServiceNames.Kafka}"], StringComparison.Ordinal);

        // Retrieval's vector index reads this connection string and runs on Qdrant (gRPC endpoint).
        var retrievalEnv = await EnvironmentOf(builder, ServiceNames.Retrieval);
        Assert.StartsWith("Endpoint=", retrievalEnv[$"ConnectionStrings__{ServiceNames.Qdrant}"], StringComparison.Ordinal);
        Assert.Contains("grpc", retrievalEnv[$"ConnectionStrings__{ServiceNames.Qdrant}"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Embedded_mode_waits_for_no_container()
    {
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.RecSys_AppHost>(
            ["RecSys:Infrastructure=embedded"]);

        foreach (var resource in builder.Resources)
        {
            Assert.DoesNotContain(Waits(resource), w => w.Resource is ContainerResource);
        }

        Assert.DoesNotContain(builder.Resources, r => r.Name == KafkaResources.InitName);
        var retrieval = await EnvironmentOf(builder, ServiceNames.Retrieval);
        Assert.DoesNotContain($"ConnectionStrings__{ServiceNames.Qdrant}", retrieval.Keys);
    }

    [Theory]
    [InlineData("RecSys:Kafka:Partitions=0")]
    [InlineData("RecSys:Kafka:Topic=bad topic")]
    public async Task Bad_kafka_settings_are_a_clear_error(string setting)
    {
        var error = await Record.ExceptionAsync(() => DistributedApplicationTestingBuilder.CreateAsync<Projects.RecSys_AppHost>(
            ["RecSys:Infrastructure=containers", setting]));

        Assert.Contains("RecSys:Kafka:", FlattenMessages(error), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Embedded_mode_has_garnet_and_no_containers()
    {
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.RecSys_AppHost>(
            ["RecSys:Infrastructure=embedded"]);

        Assert.Empty(builder.Resources.OfType<ContainerResource>());
        Assert.Contains(builder.Resources, r => r.Name == "garnet");
        Assert.Contains(builder.Resources, r => r.Name == ServiceNames.Seed);
        var featureServer = await EnvironmentOf(builder, ServiceNames.FeatureServer);
        Assert.Contains("garnet", featureServer[$"ConnectionStrings__{ServiceNames.OnlineStore}"], StringComparison.Ordinal);
        Assert.DoesNotContain($"ConnectionStrings__{ServiceNames.Kafka}", featureServer.Keys);
    }

    [Theory]
    [InlineData("embedded", true, "Embedded")]
    [InlineData("Containers", false, "Containers")]
    [InlineData(null, true, "Containers")]
    [InlineData(null, false, "Embedded")]
    public void The_mode_comes_from_configuration_else_from_whether_a_container_runtime_answers(string? configured, bool runtime, string expected)
    {
        var config = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { [InfrastructureModes.ConfigurationKey] = configured })
            .Build();

        Assert.Equal(expected, InfrastructureModes.Resolve(config, () => runtime).ToString());
    }

    [Fact]
    public void An_unknown_mode_is_a_clear_error()
    {
        var config = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { [InfrastructureModes.ConfigurationKey] = "cloud" })
            .Build();

        var error = Assert.Throws<InvalidOperationException>(() => InfrastructureModes.Resolve(config, () => false));
        Assert.Contains("embedded", error.Message, StringComparison.Ordinal);
    }

    private static IResource Resource(IDistributedApplicationTestingBuilder builder, string name) =>
        builder.Resources.Single(r => r.Name == name);

    private static IEnumerable<WaitAnnotation> Waits(IResource resource) => resource.Annotations.OfType<WaitAnnotation>();

    private static string FlattenMessages(Exception? error)
    {
        var messages = new List<string>();
        for (var e = error; e is not null; e = e.InnerException)
        {
            messages.Add(e.Message);
        }

        return string.Join(" | ", messages);
    }

    /// <summary>Environment of a resource as the manifest would write it: references stay symbolic ({redis.connectionString}).</summary>
    internal static async Task<Dictionary<string, string>> EnvironmentOf(IDistributedApplicationTestingBuilder builder, string name)
    {
        var resource = (IResourceWithEnvironment)builder.Resources.Single(r => r.Name == name);
        // Obsolete in favour of ExecutionConfigurationBuilder, but still the one call that evaluates a resource's environment in publish mode.
#pragma warning disable CS0618
        var values = await resource.GetEnvironmentVariableValuesAsync(DistributedApplicationOperation.Publish);
#pragma warning restore CS0618
        return values.ToDictionary(kv => kv.Key, kv => kv.Value);
    }
}
