using RecSys.FeatureStore.EventLog;

namespace RecSys.FeatureStore.Deletion;

/// <summary>
/// The event log as the FeatureServer reads it: the interaction events of deleted users (<see cref="DeletedUsers"/>) are
/// left out of every read, so the stream processor, the export (and through it the Trainer), the backfill and the
/// consistency check never see them, however old. The log itself is append-only and is not rewritten: appends pass
/// through unchanged (an event of a deleted user that arrives later is accepted and logged, and never applied, exported
/// or backfilled). Positions are those of the inner log, so a batch whose records were all left out still moves on.
/// </summary>
public sealed class DeletedUserFilteringEventLog(IEventLog inner, DeletedUsers deleted) : IEventLog
{
    public IEventLog Inner => inner;

    public long TailPosition => inner.TailPosition;

    public ValueTask<long> AppendAsync(IReadOnlyList<LogRecord> records, CancellationToken cancellationToken) =>
        inner.AppendAsync(records, cancellationToken);

    public async ValueTask<LogBatch> ReadAsync(LogPosition fromPosition, int maxRecords, CancellationToken cancellationToken) =>
        Filter(await inner.ReadAsync(fromPosition, maxRecords, cancellationToken), deleted);

    public IEventLogReader OpenReader() => new Reader(inner.OpenReader(), deleted);

    public ValueTask<LogPosition> GetEndPositionAsync(CancellationToken cancellationToken) => inner.GetEndPositionAsync(cancellationToken);

    /// <summary>The batch without the events of deleted users (the same batch when it has none).</summary>
    public static LogBatch Filter(LogBatch batch, DeletedUsers deleted)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(deleted);
        if (deleted.Count == 0 || !batch.Entries.Any(e => IsDeleted(e, deleted)))
        {
            return batch;
        }

        return batch with { Entries = [.. batch.Entries.Where(e => !IsDeleted(e, deleted))] };
    }

    private static bool IsDeleted(LogEntry entry, DeletedUsers deleted) =>
        entry.Record is EventRecord { Event: var e } && deleted.Contains(e.UserId);

    private sealed class Reader(IEventLogReader inner, DeletedUsers deleted) : IEventLogReader
    {
        public async ValueTask<LogBatch> ReadAsync(LogPosition fromPosition, int maxRecords, CancellationToken cancellationToken) =>
            Filter(await inner.ReadAsync(fromPosition, maxRecords, cancellationToken), deleted);

        public void Dispose() => inner.Dispose();
    }
}
