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
    RetrainingSettings Retraining)
{
    /// <summary>The FeatureServer's default topic (FeatureServer:Kafka:Topic); passed to it explicitly.</summary>
    public const string DefaultKafkaTopic = "recsys-events";

    public const int DefaultKafkaPartitions = 8;

    public const int DefaultOnlineStorePort = 6390;

    public const int DefaultSeedDimensions = 16;

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
        return new RecSysSettings(mode, dataRoot, port, seedEnabled, seedDimensions, seedArgs, topic, partitions, retraining);
    }

    public string DataFolder(string resource) => Path.Combine(DataRoot, resource);

    /// <summary>The model registry (<c>&lt;data root&gt;/models</c>): ranker releases under <c>rankers/</c>, served by Ranking.</summary>
    public string ModelRegistry => Path.Combine(DataRoot, "models");
}
