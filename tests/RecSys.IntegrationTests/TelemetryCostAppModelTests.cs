using RecSys.Core.Domain;

namespace RecSys.IntegrationTests;

/// <summary>
/// What the AppHost does to keep its own processes cheap under load (docs/security.md, "Soak: what grows"): the services'
/// endpoints without DCP's proxy, and a metric export interval longer than Aspire's 1 s. Read from the app model, nothing started.
/// </summary>
public sealed class TelemetryCostAppModelTests
{
    private static readonly string[] Services = [ServiceNames.Ranking, ServiceNames.Retrieval, ServiceNames.FeatureServer];

    [Fact]
    public async Task Direct_endpoints_listen_on_their_own_ports_without_the_proxy()
    {
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.RecSys_AppHost>(
            ["RecSys:Infrastructure=embedded", "RecSys:DirectEndpoints=true"]);

        foreach (var service in Services)
        {
            var http = HttpEndpoint(builder, service);
            Assert.False(http.IsProxied, service);
            Assert.NotNull(http.Port);
            Assert.Equal(http.Port, http.TargetPort);
        }
    }

    [Fact]
    public async Task Where_ports_are_randomized_the_services_stay_behind_the_proxy()
    {
        // The testing builder randomizes ports, which DCP does for proxied endpoints only: a fixed port could collide.
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.RecSys_AppHost>(["RecSys:Infrastructure=embedded"]);

        Assert.All(Services, service => Assert.True(HttpEndpoint(builder, service).IsProxied, service));
    }

    [Theory]
    [InlineData(null, "5000")]
    [InlineData("00:00:01", "1000")]
    [InlineData("00:00:30", "30000")]
    public async Task Every_service_exports_its_metrics_at_the_configured_interval(string? configured, string expectedMilliseconds)
    {
        string[] args = configured is null
            ? ["RecSys:Infrastructure=embedded"]
            : ["RecSys:Infrastructure=embedded", $"RecSys:Telemetry:MetricExportInterval={configured}"];
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.RecSys_AppHost>(args);

        foreach (var service in Services.Append("garnet"))
        {
            var environment = await AppModelTests.EnvironmentOf(builder, service);
            Assert.Equal(expectedMilliseconds, environment["OTEL_METRIC_EXPORT_INTERVAL"]);
        }
    }

    [Theory]
    [InlineData("00:00:00")]
    [InlineData("02:00:00")]
    [InlineData("often")]
    public async Task An_interval_out_of_bounds_stops_the_apphost_with_a_clear_error(string interval)
    {
        var error = await Record.ExceptionAsync(() => DistributedApplicationTestingBuilder.CreateAsync<Projects.RecSys_AppHost>(
            ["RecSys:Infrastructure=embedded", $"RecSys:Telemetry:MetricExportInterval={interval}"]));

        Assert.NotNull(error);
        Assert.Contains("RecSys:Telemetry:MetricExportInterval must be a TimeSpan", error.ToString(), StringComparison.Ordinal);
    }

    private static EndpointAnnotation HttpEndpoint(IDistributedApplicationTestingBuilder builder, string service) =>
        builder.Resources.OfType<ProjectResource>().Single(r => r.Name == service)
            .Annotations.OfType<EndpointAnnotation>().Single(e => e.Name == "http");
}
