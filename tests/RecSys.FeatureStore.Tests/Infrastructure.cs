using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using RecSys.FeatureStore.Streaming;
using RecSys.FeatureStore.Telemetry;
using RecSys.TestSupport;

namespace RecSys.FeatureStore.Tests;

internal static class Infrastructure
{
    private static readonly ServiceProvider Services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    public static FeatureStoreTelemetry Metrics() => new(Services.GetRequiredService<IMeterFactory>(), new ProcessorState());

    public static OnlineApplier Applier(EmbeddedGarnet garnet) => new(garnet.Connection, Metrics());
}
