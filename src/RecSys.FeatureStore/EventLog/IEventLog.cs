namespace RecSys.FeatureStore.EventLog;

/// <summary>
/// A durable, append-only log of <see cref="LogRecord"/>s, ordered per partition (the embedded log has one partition;
/// Kafka partitions by user id, so the records of one user stay in order). A reader resumes from a
/// <see cref="LogPosition"/> (the next offset of every partition): <see cref="LogBatch.NextPosition"/> is always a valid
/// place to resume, and resuming from it neither skips nor repeats a record. <see cref="LogPosition.Start"/> is the beginning.
/// </summary>
public interface IEventLog
{
    /// <summary>
    /// Appends the records and returns only once all of them are committed (durable), with the
    /// <see cref="LogPosition.Ordinal"/> of a position at or past the last of them as far as this writer knows (the byte
    /// address for the embedded log; for Kafka the number of records before the highest offsets acknowledged to this
    /// producer). Records of one call keep their order per key; concurrent appends may interleave.
    /// </summary>
    ValueTask<long> AppendAsync(IReadOnlyList<LogRecord> records, CancellationToken cancellationToken);

    /// <summary>
    /// Reads through the log's own default reader (see <see cref="IEventLogReader.ReadAsync"/>): callers of this method
    /// take turns, so a second independent reader (a backfill next to the live processor) uses <see cref="OpenReader"/>.
    /// </summary>
    ValueTask<LogBatch> ReadAsync(LogPosition fromPosition, int maxRecords, CancellationToken cancellationToken);

    /// <summary>
    /// Opens a reader with its own cursor (its own scan iterator or consumer): it never waits for another reader, and
    /// another reader never waits for it. Dispose it when done; disposing the log closes the readers still open.
    /// </summary>
    IEventLogReader OpenReader();

    /// <summary>
    /// The position just past the last committed record of every partition, asked of the log now (so it includes records
    /// appended by other writers). A reader starting at or before it reaches it: every partition's next offset gets to at
    /// least the one returned here.
    /// </summary>
    ValueTask<LogPosition> GetEndPositionAsync(CancellationToken cancellationToken);

    /// <summary>
    /// The <see cref="LogPosition.Ordinal"/> of the position just past the last committed record as far as this instance
    /// knows without asking (for status and metrics; <see cref="GetEndPositionAsync"/> is exact).
    /// </summary>
    long TailPosition { get; }
}

/// <summary>
/// One cursor over an <see cref="IEventLog"/>. Its calls take turns (one read at a time); disposing it cancels a read in
/// progress, which then throws <see cref="ObjectDisposedException"/>.
/// </summary>
public interface IEventLogReader : IDisposable
{
    /// <summary>
    /// Reads committed records from <paramref name="fromPosition"/>, in order within each partition: waits until at least
    /// one is available or the position can move past records that are not events (skipped bytes, Kafka control records),
    /// then returns up to <paramref name="maxRecords"/> without waiting further. A batch may so have no entries and a
    /// <see cref="LogBatch.NextPosition"/> further than <paramref name="fromPosition"/>; it never returns a batch that
    /// neither has entries nor moves.
    /// </summary>
    ValueTask<LogBatch> ReadAsync(LogPosition fromPosition, int maxRecords, CancellationToken cancellationToken);
}
