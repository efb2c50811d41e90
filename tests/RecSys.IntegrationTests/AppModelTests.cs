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
    public async Task Embedded_mode_has_garnet_and_no_containers()
    {
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.RecSys_AppHost>(
            ["RecSys:Infrastructure=embedded"]);

        Assert.Empty(builder.Resources.OfType<ContainerResource>());
        Assert.Contains(builder.Resources, r => r.Name == "garnet");
        Assert.Contains(builder.Resources, r => r.Name == ServiceNames.Trainer);
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

    /// <summary>Environment of a resource as the manifest would write it: references stay symbolic ({redis.connectionString}).</summary>
    private static async Task<Dictionary<string, string>> EnvironmentOf(IDistributedApplicationTestingBuilder builder, string name)
    {
        var resource = (IResourceWithEnvironment)builder.Resources.Single(r => r.Name == name);
        // Obsolete in favour of ExecutionConfigurationBuilder, but still the one call that evaluates a resource's environment in publish mode.
#pragma warning disable CS0618
        var values = await resource.GetEnvironmentVariableValuesAsync(DistributedApplicationOperation.Publish);
#pragma warning restore CS0618
        return values.ToDictionary(kv => kv.Key, kv => kv.Value);
    }
}
