using System.Globalization;

namespace RecSys.Trainer.Retraining;

/// <summary>
/// When retraining runs: every <see cref="Interval"/>, counted from <see cref="At"/> (UTC time of day) when given, else from the
/// moment the schedule started. Slots missed while a run was in progress are not caught up: the next slot is always the first
/// one strictly after now.
/// </summary>
public sealed record RetrainSchedule
{
    public static readonly TimeSpan MinimumInterval = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan MaximumInterval = TimeSpan.FromDays(366);

    public RetrainSchedule(TimeSpan interval, TimeOnly? at = null)
    {
        if (interval < MinimumInterval || interval > MaximumInterval)
        {
            throw new ArgumentOutOfRangeException(nameof(interval), interval,
                $"The retraining interval must be between {MinimumInterval} and {MaximumInterval.TotalDays:N0} days.");
        }

        // With a time of day the slots must land on the same times every day, else --at would mean something else each day.
        var day = TimeSpan.FromDays(1);
        if (at is not null && day.Ticks % interval.Ticks != 0 && interval.Ticks % day.Ticks != 0)
        {
            throw new ArgumentException(
                $"With a time of day the interval must divide a day (e.g. 06:00:00) or be whole days, not {interval}.", nameof(interval));
        }

        Interval = interval;
        At = at;
    }

    public TimeSpan Interval { get; }

    /// <summary>UTC time of day the slots are aligned to; null: aligned to the start of the schedule.</summary>
    public TimeOnly? At { get; }

    /// <summary>The first slot strictly after <paramref name="now"/>, for a schedule that started at <paramref name="startedAt"/>.</summary>
    public DateTimeOffset NextSlotAfter(DateTimeOffset now, DateTimeOffset startedAt)
    {
        var origin = At is { } at
            ? new DateTimeOffset(startedAt.UtcDateTime.Date + at.ToTimeSpan(), TimeSpan.Zero)
            : startedAt.ToUniversalTime();
        // floor((now - origin) / interval) + 1 slots after the origin; the origin may lie after now (a time of day later today).
        var quotient = Math.DivRem((now - origin).Ticks, Interval.Ticks, out var remainder);
        if (remainder < 0)
        {
            quotient--;
        }

        return origin + TimeSpan.FromTicks((quotient + 1) * Interval.Ticks);
    }

    public string Describe() => At is { } at
        ? $"every {Interval.ToString("c", CultureInfo.InvariantCulture)} from {at.ToString("HH:mm", CultureInfo.InvariantCulture)} UTC"
        : $"every {Interval.ToString("c", CultureInfo.InvariantCulture)}";
}
