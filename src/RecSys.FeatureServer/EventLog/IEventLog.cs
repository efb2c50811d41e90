namespace RecSys.FeatureServer.EventLog;

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
    /// Reads committed records from <paramref name="fromPosition"/>, in order within each partition: waits until at least
    /// one is available, then returns up to <paramref name="maxRecords"/> without waiting further.
    /// </summary>
    ValueTask<LogBatch> ReadAsync(LogPosition fromPosition, int maxRecords, CancellationToken cancellationToken);

    /// <summary>The <see cref="LogPosition.Ordinal"/> of the position just past the last committed record.</summary>
    long TailPosition { get; }
}
