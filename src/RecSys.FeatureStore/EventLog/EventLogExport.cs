using System.Runtime.CompilerServices;
using RecSys.Core.Domain;

namespace RecSys.FeatureStore.EventLog;

/// <summary>
/// An event-time window of an export: events with <c>From &lt;= EventTime &lt; Until</c>; a missing bound is open.
/// </summary>
public sealed record ExportWindow(DateTimeOffset? From, DateTimeOffset? Until)
{
    public static readonly ExportWindow All = new(null, null);

    /// <summary>Null when the window is valid, else why not.</summary>
    public string? Validate() =>
        From is { } from && Until is { } until && from >= until
            ? $"'from' ({from:O}) must be before 'until' ({until:O})."
            : null;

    public bool Contains(DateTimeOffset time) =>
        (From is not { } from || time >= from) && (Until is not { } until || time < until);
}

/// <summary>
/// Reads an <see cref="IEventLog"/> from its start up to an end position taken beforehand, through a reader of its own
/// (<see cref="IEventLog.OpenReader"/>), so an export neither waits for nor disturbs the stream processor, and holds one
/// batch in memory at a time. Records appended after the end position are left out, so the result is a consistent prefix
/// of the log. The log is exported as it is: an event resent by a client appears once per append (consumers deduplicate by
/// event id), and an item upserted twice appears twice (the later line wins).
/// </summary>
public static class EventLogExport
{
    public const int DefaultBatchSize = 4_096;

    /// <summary>Every record before <paramref name="end"/>, in log order within each partition.</summary>
    public static IAsyncEnumerable<LogRecord> ReadToAsync(
        IEventLog log, LogPosition end, int batchSize = DefaultBatchSize, CancellationToken cancellationToken = default) =>
        ReadRangeAsync(log, LogPosition.Start, end, batchSize, cancellationToken);

    /// <summary>Every record from <paramref name="start"/> (a position an earlier export returned) up to <paramref name="end"/>.</summary>
    public static async IAsyncEnumerable<LogRecord> ReadRangeAsync(
        IEventLog log, LogPosition start, LogPosition end, int batchSize = DefaultBatchSize, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(log);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        var position = start;
        using var reader = log.OpenReader();

        // Compared per partition: a reader at the end would otherwise wait for records that may never come.
        while (!position.IsAtOrPast(end))
        {
            var batch = await reader.ReadAsync(position, batchSize, cancellationToken);
            foreach (var entry in batch.Entries)
            {
                // Another partition may still be behind while this one already returns records appended after the end.
                if (entry.Position < end[entry.Partition])
                {
                    yield return entry.Record;
                }
            }

            position = batch.NextPosition;
        }
    }

    /// <summary>The interaction events before <paramref name="end"/> whose event time is in <paramref name="window"/>.</summary>
    public static IAsyncEnumerable<InteractionEvent> EventsAsync(
        IEventLog log, LogPosition end, ExportWindow window, CancellationToken cancellationToken = default) =>
        EventsAsync(log, LogPosition.Start, end, window, cancellationToken);

    /// <summary>The interaction events from <paramref name="start"/> up to <paramref name="end"/> whose event time is in <paramref name="window"/>.</summary>
    public static async IAsyncEnumerable<InteractionEvent> EventsAsync(
        IEventLog log, LogPosition start, LogPosition end, ExportWindow window, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(window);
        await foreach (var record in ReadRangeAsync(log, start, end, DefaultBatchSize, cancellationToken))
        {
            if (record is EventRecord { Event: var e } && window.Contains(e.EventTime))
            {
                yield return e;
            }
        }
    }

    /// <summary>The item upserts before <paramref name="end"/>, in log order (a later upsert of an id replaces an earlier one).</summary>
    public static async IAsyncEnumerable<CatalogItem> ItemsAsync(
        IEventLog log, LogPosition end, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var record in ReadToAsync(log, end, DefaultBatchSize, cancellationToken))
        {
            if (record is ItemUpsertRecord { Item: var item })
            {
                yield return item;
            }
        }
    }
}
