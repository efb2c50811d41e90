using System.Globalization;

namespace RecSys.FeatureStore.Streaming;

/// <summary>Entity kinds of the feature hashes <see cref="Keys.OnlineKeys.Features"/> and of feature definitions.</summary>
public static class EntityKinds
{
    public const string User = "user";
    public const string Item = "item";
    public const string Creator = "creator";

    /// <summary>A user and an item, id <c>userId:itemId</c>: cross features computed at read time, nothing stored.</summary>
    public const string UserItem = "user_item";
}

/// <summary>
/// A ring of time buckets kept for every counter: field <c>counter|{Prefix}{slot}</c> of the feature hash holds
/// <c>{bucket index}:{sum}</c>, slot = bucket index mod <see cref="Slots"/>. A write to a slot holding an older bucket
/// replaces it; a write of a bucket older than the slot's is outside every window served from the ring and is dropped.
/// </summary>
public sealed record BucketRing(string Prefix, TimeSpan Bucket, int Slots)
{
    public long BucketMs => (long)Bucket.TotalMilliseconds;

    /// <summary>Bucket index of a time (unix ms): floor(ms / bucket).</summary>
    public long BucketIndex(long unixMs) => (long)Math.Floor(unixMs / (double)BucketMs);

    public string Field(string counter, long bucketIndex) =>
        counter + FeatureFields.RingSeparator + Prefix + (((bucketIndex % Slots) + Slots) % Slots).ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// Counter fields the stream processor keeps in the feature hashes. Field <c>name</c> holds the all-time value,
/// <c>name@t</c> (<see cref="TimeSuffix"/>) the latest event time (unix ms) that changed it, and <c>name|{ring}{slot}</c>
/// the time buckets of <see cref="Rings"/>.
/// </summary>
public static class FeatureFields
{
    public const string TimeSuffix = "@t";
    public const char RingSeparator = '|';
    public const string EventsTotal = "events_total";
    public const string ClicksTotal = "clicks_total";
    public const string ImpressionsTotal = "impressions_total";
    public const string ViewsTotal = "views_total";
    public const string EngagementTotal = "engagement_total";
    public const string EngagedTotal = "engaged_total";
    public const string LastEventMs = "last_event_ms";

    /// <summary>Buckets kept per counter: 5 minutes x 12 (1h windows), 1 hour x 24 (24h), 1 day x 30 (7d, 30d).</summary>
    public static readonly IReadOnlyList<BucketRing> Rings =
    [
        new("m", TimeSpan.FromMinutes(5), 12),
        new("h", TimeSpan.FromHours(1), 24),
        new("d", TimeSpan.FromDays(1), 30),
    ];

    /// <summary>Ring of the user's engagement per item category: field <c>category|d{slot}</c> of <see cref="UserCategoryWindows"/>.</summary>
    public static BucketRing CategoryRing => Rings[2];

    /// <summary>Hash of the user's per-category engagement buckets (<see cref="CategoryRing"/>).</summary>
    public static string UserCategoryWindows(string userId) => "f:user:" + userId + ":cats";
}

/// <summary>Keys of the stream processor's own bookkeeping (beside <see cref="Keys.OnlineKeys.ProcessorPosition"/>).</summary>
public static class ProcessorKeys
{
    /// <summary>Hash of running totals: <see cref="EventsApplied"/>, <see cref="DuplicatesSkipped"/>, <see cref="RecordsApplied"/>, <see cref="DeletedUserSkipped"/>.</summary>
    public const string Stats = "proc:stats";
    public const string EventsApplied = "events_applied";
    public const string DuplicatesSkipped = "duplicates_skipped";
    public const string RecordsApplied = "records_applied";

    /// <summary>Events not applied because their user was deleted (<see cref="Keys.OnlineKeys.DeletedUsers"/>).</summary>
    public const string DeletedUserSkipped = "deleted_user_skipped";

    /// <summary>
    /// String counter: the fencing token of the current writer. Every applier takes a new one when it starts, and every
    /// write script refuses to run unless its token is still the current one, so a stale writer (a processor presumed
    /// dead whose scripts are still queued, or one that lost its lease while paused) can no longer change anything.
    /// </summary>
    public const string Fence = "proc:fence";

    /// <summary>String with a time-to-live: the instance id of the processor that holds the right to apply.</summary>
    public const string Lease = "proc:lease";
}
