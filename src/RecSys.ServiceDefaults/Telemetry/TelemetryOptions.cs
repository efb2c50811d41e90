using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace RecSys.ServiceDefaults.Telemetry;

/// <summary>Tracing (section <c>RecSys:Telemetry</c>).</summary>
public sealed class TelemetryOptions
{
    public const string SectionName = "RecSys:Telemetry";

    /// <summary>
    /// New traces this service may begin per second (<see cref="TraceBudgetSampler"/>); requests that arrive with a trace
    /// context follow its decision. 0 begins none.
    /// </summary>
    [Range(0, 1_000_000)]
    public double TracesPerSecond { get; set; } = 5;
}

[OptionsValidator]
public sealed partial class TelemetryOptionsValidator : IValidateOptions<TelemetryOptions>;
