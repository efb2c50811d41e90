using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace RecSys.FeatureStore.Consistency;

/// <summary>Options of the online/offline consistency job, section <c>FeatureServer:Consistency</c>.</summary>
public sealed class ConsistencyOptions
{
    public const string SectionName = "FeatureServer:Consistency";

    /// <summary>Whether the periodic check runs (the API works either way).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Time between periodic checks.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan Period { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Entities sampled per check (all of them when fewer exist).</summary>
    [Range(1, 10_000_000)]
    public int SampleSize { get; set; } = 10_000;

    /// <summary>Relative tolerance of <c>values_match</c>: |online - offline| / max(|offline|, 1e-6) &lt; tolerance.</summary>
    [Range(0.0, 1.0)]
    public double Tolerance { get; set; } = 0.01;

    /// <summary>Inconsistencies per sampled entity above which the check alerts.</summary>
    [Range(0.0, 1000.0)]
    public double AlertRatio { get; set; } = 0.01;

    /// <summary>Examples of mismatches kept in a report.</summary>
    [Range(0, 1_000)]
    public int Examples { get; set; } = 20;
}

/// <summary>The data annotations of <see cref="ConsistencyOptions"/>, checked by generated code.</summary>
[OptionsValidator]
public sealed partial class ConsistencyOptionsValidator : IValidateOptions<ConsistencyOptions>;
