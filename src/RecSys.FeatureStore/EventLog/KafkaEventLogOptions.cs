using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace RecSys.FeatureStore.EventLog;

/// <summary>
/// Options of the Kafka event log, section <c>FeatureServer:Kafka</c>. The log is Kafka when the connection string
/// <c>ConnectionStrings:kafka</c> (bootstrap servers) is present, else the embedded FasterLog.
/// </summary>
public sealed class KafkaEventLogOptions
{
    public const string SectionName = "FeatureServer:Kafka";

    /// <summary>Name of the connection string holding the bootstrap servers.</summary>
    public const string ConnectionStringName = "kafka";

    /// <summary>Bootstrap servers (from <c>ConnectionStrings:kafka</c>).</summary>
    [Required]
    public string BootstrapServers { get; set; } = "";

    /// <summary>The topic of events and item upserts (events keyed by user id, item upserts by item id).</summary>
    [Required]
    public string Topic { get; set; } = "recsys-events";

    /// <summary>Consumer group id of the reader (positions are committed in the online store, not to the group).</summary>
    [Required]
    public string ConsumerGroup { get; set; } = "recsys-featureserver";

    /// <summary>How long the producer waits to fill a batch (librdkafka <c>linger.ms</c>, to which it is converted).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:01")]
    public TimeSpan Linger { get; set; } = TimeSpan.FromMilliseconds(2);

    /// <summary>Timeout of metadata and watermark requests (start-up, health check).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>The data annotations of <see cref="KafkaEventLogOptions"/>, checked by generated code.</summary>
[OptionsValidator]
public sealed partial class KafkaEventLogOptionsValidator : IValidateOptions<KafkaEventLogOptions>;
