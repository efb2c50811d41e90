namespace RecSys.FeatureServer.Streaming;

/// <summary>Entity kinds of the feature hashes <see cref="Core.Storage.OnlineKeys.Features"/>.</summary>
public static class EntityKinds
{
    public const string User = "user";
    public const string Item = "item";
}

/// <summary>
/// Counter fields the stream processor keeps in the feature hashes. Field <c>name</c> holds the value and
/// <c>name@t</c> (<see cref="TimeSuffix"/>) the latest event time (unix ms) that changed it.
/// </summary>
public static class FeatureFields
{
    public const string TimeSuffix = "@t";
    public const string EventsTotal = "events_total";
    public const string ClicksTotal = "clicks_total";
    public const string ImpressionsTotal = "impressions_total";
    public const string ViewsTotal = "views_total";
    public const string EngagementTotal = "engagement_total";
    public const string LastEventMs = "last_event_ms";
}

/// <summary>Keys of the stream processor's own bookkeeping (beside <see cref="Core.Storage.OnlineKeys.ProcessorPosition"/>).</summary>
public static class ProcessorKeys
{
    /// <summary>Hash of running totals: <see cref="EventsApplied"/>, <see cref="DuplicatesSkipped"/>, <see cref="RecordsApplied"/>.</summary>
    public const string Stats = "proc:stats";
    public const string EventsApplied = "events_applied";
    public const string DuplicatesSkipped = "duplicates_skipped";
    public const string RecordsApplied = "records_applied";
}
