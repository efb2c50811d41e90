using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace RecSys.Ranking.Feedback;

/// <summary>
/// The feedback loop (section <c>Ranking:Feedback</c>): impressions of every served list go to the FeatureServer's event
/// log, and during a rollout the log is read back to join clicks to impressions by request id. Off while
/// <see cref="FeatureServerBaseAddress"/> is unset.
/// </summary>
public sealed class FeedbackOptions
{
    public const string SectionName = "Ranking:Feedback";

    /// <summary>The FeatureServer (service discovery resolves <c>http://featureserver</c>); unset: no impressions are logged.</summary>
    public Uri? FeatureServerBaseAddress { get; set; }

    /// <summary>Key with the producer role, sent on <c>POST /v1/events</c>.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Key allowed to read <c>GET /v1/export/events</c> (admin); unset: clicks are not read back and the CTR gate waits.</summary>
    public string? ExportApiKey { get; set; }

    /// <summary>Served lists waiting to be sent; beyond it a list's impressions are dropped (counted), never waited for.</summary>
    [Range(1, 1_000_000)]
    public int QueueCapacity { get; set; } = 10_000;

    /// <summary>Most events per <c>POST /v1/events</c>.</summary>
    [Range(1, 10_000)]
    public int BatchSize { get; set; } = 1_000;

    /// <summary>Longest a list waits before its batch is sent.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the event log is read for impressions and clicks while a rollout runs.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(10);
}

[OptionsValidator]
public sealed partial class FeedbackOptionsValidator : IValidateOptions<FeedbackOptions>;
