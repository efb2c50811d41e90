using Microsoft.Extensions.Configuration;
using System.Globalization;

namespace RecSys.AppHost;

/// <summary>The AppHost's own configuration (section <c>RecSys</c>), read once at start.</summary>
internal sealed record RecSysSettings(
    InfrastructureMode Mode,
    string DataRoot,
    int OnlineStorePort,
    bool SeedEnabled,
    int SeedDimensions,
    IReadOnlyList<string> SeedArguments,
    string KafkaTopic,
    int KafkaPartitions,
    RetrainingSettings Retraining,
    bool DirectEndpoints,
    TimeSpan MetricExportInterval)
{
    /// <summary>The FeatureServer's default topic (FeatureServer:Kafka:Topic); passed to it explicitly.</summary>
    public const string DefaultKafkaTopic = "recsys-events";

    public const int DefaultKafkaPartitions = 8;

    public const int DefaultOnlineStorePort = 6390;

    public const int DefaultSeedDimensions = 16;

    /// <summary>
    /// How often each service exports its metrics to the dashboard. Aspire's default is 1 s; every export carries every
    /// instrument's full state (histograms included) whatever the request rate, so a longer interval costs the dashboard and
    /// the services less at the same rate, at the price of coarser graphs (docs/security.md, "Soak: what grows").
    /// </summary>
    public static readonly TimeSpan DefaultMetricExportInterval = TimeSpan.FromSeconds(5);

    public static RecSysSettings From(IDistributedApplicationBuilder builder, Func<bool>? containerRuntimeAnswers = null)
    {
        var config = builder.Configuration;
        var mode = InfrastructureModes.Resolve(config, containerRuntimeAnswers);

        // Default data root: <repository>/.data, next to src/, so that state survives restarts and is easy to wipe.
        var dataRoot = config["RecSys:DataRoot"];
        dataRoot = string.IsNullOrWhiteSpace(dataRoot)
            ? Path.GetFullPath(Path.Combine(builder.AppHostDirectory, "..", "..", ".data"))
            : Path.GetFullPath(dataRoot);

        var port = config.GetValue("RecSys:OnlineStorePort", DefaultOnlineStorePort);
        if (port is < 1 or > 65535)
        {
            throw new InvalidOperationException($"RecSys:OnlineStorePort must be a TCP port, not {port}.");
        }

        var seedEnabled = config.GetValue("RecSys:Seed:Enabled", true);
        // The seed's trained embeddings go into the Retrieval index, so the index has the seed's dimension.
        var seedDimensions = config.GetValue("RecSys:Seed:Dimensions", DefaultSeedDimensions);
        // The seed trains embeddings of this dimension on the events it sent and publishes them; the model stays under the data root.
        var seedArgs = new List<string>
        {
            "seed", "--if-empty", "--dimensions", seedDimensions.ToString(CultureInfo.InvariantCulture),
            "--model-dir", Path.Combine(dataRoot, "models", "seed"),
            "--rankers-registry", Path.Combine(dataRoot, "models"),
        };
        foreach (var option in new[] { "Users", "Items", "Creators", "Categories", "Seed" })
        {
            var value = config[$"RecSys:Seed:{option}"];
            if (!string.IsNullOrWhiteSpace(value))
            {
                seedArgs.Add("--" + option.ToLowerInvariant());
                seedArgs.Add(int.Parse(value, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture));
            }
        }

        var topic = config["RecSys:Kafka:Topic"];
        topic = string.IsNullOrWhiteSpace(topic) ? DefaultKafkaTopic : topic;
        if (topic.Length > 249 || !topic.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
        {
            throw new InvalidOperationException($"RecSys:Kafka:Topic must be 1-249 ASCII letters, digits, '.', '_' or '-', not '{topic}'.");
        }

        var partitions = config.GetValue("RecSys:Kafka:Partitions", DefaultKafkaPartitions);
        if (partitions is < 1 or > 1000)
        {
            throw new InvalidOperationException($"RecSys:Kafka:Partitions must be between 1 and 1000, not {partitions}.");
        }

        var retraining = RetrainingSettings.From(config, Path.Combine(dataRoot, "models", "retrain"), seedDimensions);

        // Off: each service's http endpoint sits behind DCP's proxy (a random target port), which copies every request and
        // response byte, between the services too; on, the services listen on their ports themselves. On by default, except
        // where the ports are randomized (the testing builder, isolated runs): only proxied ports are randomized, and a fixed
        // port would collide with another running AppHost.
        var directEndpoints = config.GetValue("RecSys:DirectEndpoints", !config.GetValue("DcpPublisher:RandomizePorts", false));

        var intervalText = config["RecSys:Telemetry:MetricExportInterval"];
        var metricInterval = DefaultMetricExportInterval;
        if (!string.IsNullOrWhiteSpace(intervalText)
            && (!TimeSpan.TryParse(intervalText, CultureInfo.InvariantCulture, out metricInterval)
                || metricInterval < TimeSpan.FromMilliseconds(100) || metricInterval > TimeSpan.FromHours(1)))
        {
            throw new InvalidOperationException(
                $"RecSys:Telemetry:MetricExportInterval must be a TimeSpan between 00:00:00.1 and 01:00:00, not '{intervalText}'.");
        }

        return new RecSysSettings(mode, dataRoot, port, seedEnabled, seedDimensions, seedArgs, topic, partitions, retraining, directEndpoints, metricInterval);
    }

    public string DataFolder(string resource) => Path.Combine(DataRoot, resource);

    /// <summary>The model registry (<c>&lt;data root&gt;/models</c>): ranker releases under <c>rankers/</c>, served by Ranking.</summary>
    public string ModelRegistry => Path.Combine(DataRoot, "models");
}
