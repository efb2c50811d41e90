using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace RecSys.ServiceDefaults.Tests;

public sealed class LoggingDefaultsTests
{
    [Fact]
    public void Pollys_per_attempt_information_is_filtered_while_its_warnings_pass()
    {
        using var host = Build([]);
        var polly = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Polly");

        Assert.False(polly.IsEnabled(LogLevel.Information));
        Assert.True(polly.IsEnabled(LogLevel.Warning));
        Assert.True(host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("RecSys.Anything").IsEnabled(LogLevel.Information));
    }

    [Fact]
    public void A_services_own_level_for_polly_wins_over_the_default()
    {
        using var host = Build(new() { ["Logging:LogLevel:Polly"] = "Information" });

        Assert.True(host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Polly").IsEnabled(LogLevel.Information));
    }

    private static IHost Build(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = Environments.Production });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.ConfigureOpenTelemetry();
        return builder.Build();
    }
}
