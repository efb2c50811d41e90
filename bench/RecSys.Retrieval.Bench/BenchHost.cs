using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Serving;
using RecSys.Retrieval.Extensions;
using RecSys.Retrieval.VectorIndex;

namespace RecSys.Retrieval.Bench;

/// <summary>
/// The Retrieval service's container without its web layer: the same registrations as its <c>Program.cs</c>
/// (online-store client, retrieval, embedded vector index with its maintenance service), on a generic host.
/// </summary>
internal static class BenchHost
{
    public static IHost Build(string store, int dimensions, string indexDirectory, IReadOnlyDictionary<string, string?>? extra = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = [],
            EnvironmentName = Environments.Production,
            DisableDefaults = true,
        });
        builder.Configuration.AddInMemoryCollection(Settings(store, dimensions, indexDirectory, extra));
        builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddSingleton<TimeProvider>(new FixedNowTimeProvider(BenchWorld.RequestTime));
        builder.AddOnlineStoreClient();
        builder.AddRetrieval();
        builder.AddVectorIndex();
        return builder.Build();
    }

    /// <summary>The service's settings for a bench run (also given to the real web host by <see cref="ServiceRun"/>).</summary>
    public static Dictionary<string, string?> Settings(string store, int dimensions, string indexDirectory, IReadOnlyDictionary<string, string?>? extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:" + ServiceNames.OnlineStore] = store,
            ["Retrieval:VectorIndex:Backend"] = "Embedded",
            ["Retrieval:VectorIndex:Dimensions"] = dimensions.ToString(CultureInfo.InvariantCulture),
            // One build thread: the graph depends on the vectors alone, so every run of every build searches the same graph.
            ["Retrieval:VectorIndex:BuildThreads"] = "1",
            ["Retrieval:DataDirectory"] = indexDirectory,
            // Results, not deadlines, are compared: no source may time out on a busy machine.
            ["Retrieval:SourceTimeout"] = "00:00:30",
            ["Retrieval:FilterTimeout"] = "00:00:30",
            ["Retrieval:VectorIndex:PerShardTimeout"] = "00:00:29",
            // As bench/scripts/ranking-cost.sh runs the services: no tracing listener, so no activities are created.
            ["OTEL_SDK_DISABLED"] = "true",
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return settings;
    }

    /// <summary>Waits until the maintenance service has loaded the snapshots of <paramref name="version"/>.</summary>
    public static async Task WaitForIndexAsync(VectorIndexManager manager, string version, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!(manager.Loaded && manager.EmbeddingVersion == version && manager.GetStatus().Vectors > 0))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException(
                    $"The index did not load embedding version '{version}' within {timeout.TotalSeconds:N0} s (loaded {manager.Loaded}, serving '{manager.EmbeddingVersion}'): run the seed step first.");
            }

            await Task.Delay(100);
        }
    }
}
