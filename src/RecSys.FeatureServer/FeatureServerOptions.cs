using System.ComponentModel.DataAnnotations;

namespace RecSys.FeatureServer;

/// <summary>Options of the FeatureServer, section <c>FeatureServer</c>.</summary>
public sealed class FeatureServerOptions
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
}
