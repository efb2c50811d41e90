using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace RecSys.FeatureStore;

/// <summary>Options of the FeatureServer, section <c>FeatureServer</c>.</summary>
public sealed class FeatureStoreOptions
{
    public const string SectionName = "FeatureServer";

    /// <summary>Folder of the embedded event log; relative paths are resolved against the content root.</summary>
    [Required]
    public string DataDirectory { get; set; } = "data/featureserver";

    /// <summary>Most records the stream processor applies in one pipelined batch.</summary>
    [Range(1, 10_000)]
    public int ApplyBatchSize { get; set; } = 512;

    /// <summary>Events applied per Lua script call (the fixed cost of a script run is shared by them).</summary>
    [Range(1, 1_000)]
    public int EventsPerScript { get; set; } = 32;

    /// <summary>Time-to-live of the applied-event markers that make redelivery idempotent.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "365.00:00:00")]
    public TimeSpan DedupeTtl { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Whether the stream processor runs in this process (tests may switch it off to drive it by hand).</summary>
    public bool RunProcessor { get; set; } = true;

    /// <summary>
    /// Who this processor is when it takes the lease; default <see cref="DefaultInstanceId"/> (machine and process). An
    /// instance restarted under the same id takes its lease back at once instead of waiting for it to expire.
    /// </summary>
    public string? ProcessorInstanceId { get; set; }

    /// <summary>How long the processor lease lasts without a commit; a standby takes over this long after a holder died.</summary>
    [Range(typeof(TimeSpan), "00:00:00.200", "00:10:00")]
    public TimeSpan ProcessorLease { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The default <see cref="ProcessorInstanceId"/>: machine name and process id.</summary>
    public static string DefaultInstanceId { get; } = Environment.MachineName + ":" + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>The data annotations of <see cref="FeatureStoreOptions"/>, checked by generated code.</summary>
[OptionsValidator]
public sealed partial class FeatureStoreOptionsValidator : IValidateOptions<FeatureStoreOptions>;
