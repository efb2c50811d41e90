using RecSys.Core.Domain;

namespace RecSys.IntegrationTests;

/// <summary><c>RecSys:Ports:{service}</c> moves a service's http endpoint, read from the app model without starting anything.</summary>
public sealed class PortsAppModelTests
{
    [Fact]
    public async Task A_configured_port_moves_only_that_service()
    {
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.RecSys_AppHost>(
            ["RecSys:Infrastructure=embedded", "RecSys:Ports:ranking=5410", "RecSys:Ports:featureserver=5430"]);
        var defaults = await DistributedApplicationTestingBuilder.CreateAsync<Projects.RecSys_AppHost>(["RecSys:Infrastructure=embedded"]);

        Assert.Equal(5410, HttpPort(builder, ServiceNames.Ranking));
        Assert.Equal(5430, HttpPort(builder, ServiceNames.FeatureServer));
        Assert.Equal(HttpPort(defaults, ServiceNames.Retrieval), HttpPort(builder, ServiceNames.Retrieval));
        Assert.NotEqual(5410, HttpPort(defaults, ServiceNames.Ranking));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("70000")]
    [InlineData("http")]
    public async Task A_port_that_is_not_a_tcp_port_stops_the_apphost_with_a_clear_error(string port)
    {
        var error = await Record.ExceptionAsync(() => DistributedApplicationTestingBuilder.CreateAsync<Projects.RecSys_AppHost>(
            ["RecSys:Infrastructure=embedded", $"RecSys:Ports:retrieval={port}"]));

        Assert.NotNull(error);
        Assert.Contains($"RecSys:Ports:retrieval must be a TCP port, not '{port}'", error.ToString(), StringComparison.Ordinal);
    }

    private static int? HttpPort(IDistributedApplicationTestingBuilder builder, string service) =>
        builder.Resources.OfType<ProjectResource>().Single(r => r.Name == service)
            .Annotations.OfType<EndpointAnnotation>().Single(e => e.Name == "http").Port;
}
