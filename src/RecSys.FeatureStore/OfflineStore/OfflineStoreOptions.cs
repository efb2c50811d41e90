using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace RecSys.FeatureStore.OfflineStore;

/// <summary>Options of the offline store, section <c>FeatureServer:OfflineStore</c>.</summary>
public sealed class OfflineStoreOptions
{
    public const string SectionName = "FeatureServer:OfflineStore";

    /// <summary>Folder of the Parquet files; empty means <c>{FeatureServer:DataDirectory}/offline</c>.</summary>
    public string? Directory { get; set; }

    /// <summary>Rows per Parquet row group; the sink flushes when this many rows are buffered.</summary>
    [Range(1_000, 10_000_000)]
    public int RowGroupSize { get; set; } = 100_000;

    /// <summary>Longest time a row appended to the sink waits in memory before it is flushed.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Batches the sink holds before it refuses (drops and counts) new ones: the stream processor never waits.</summary>
    [Range(1, 1_000_000)]
    public int SinkCapacity { get; set; } = 4_096;

    /// <summary>Most labels one training-set request may carry.</summary>
    [Range(1, 10_000_000)]
    public int MaxLabels { get; set; } = 1_000_000;

    /// <summary>Largest training-set request body (JSON, CSV or Parquet labels).</summary>
    [Range(1_024, 4L * 1024 * 1024 * 1024)]
    public long MaxRequestBodyBytes { get; set; } = 256L * 1024 * 1024;
}

/// <summary>The data annotations of <see cref="OfflineStoreOptions"/>, checked by generated code.</summary>
[OptionsValidator]
public sealed partial class OfflineStoreOptionsValidator : IValidateOptions<OfflineStoreOptions>;
