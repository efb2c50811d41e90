namespace RecSys.FeatureServer.EventLog;

/// <summary>
/// An ordered, durable, append-only log of <see cref="LogRecord"/>s. Positions are opaque, increasing numbers
/// (byte addresses for the embedded log, offsets for Kafka); a position returned as <see cref="LogEntry.NextPosition"/>
/// or <see cref="LogBatch.NextPosition"/> is a valid place to resume reading. Position 0 means "from the beginning".
/// </summary>
public interface IEventLog
{
    /// <summary>
    /// Appends the records in order and returns only once they are committed (durable), with a position at or past the
    /// last of them. Records of one call stay contiguous only per writer; concurrent appends may interleave.
    /// </summary>
    ValueTask<long> AppendAsync(IReadOnlyList<LogRecord> records, CancellationToken cancellationToken);

    /// <summary>
    /// Reads committed records from <paramref name="fromPosition"/> in log order: waits until at least one is available,
    /// then returns up to <paramref name="maxRecords"/> without waiting further.
    /// </summary>
    ValueTask<LogBatch> ReadAsync(long fromPosition, int maxRecords, CancellationToken cancellationToken);

    /// <summary>The position just past the last committed record.</summary>
    long TailPosition { get; }
}
