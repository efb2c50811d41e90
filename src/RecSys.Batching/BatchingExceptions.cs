namespace RecSys.Batching;

/// <summary>
/// The queue is full: the request was not accepted. <see cref="RetryAfter"/> estimates when the queue will have drained
/// (an API maps this to 429 with a Retry-After header).
/// </summary>
public sealed class BatchQueueFullException : Exception
{
    public BatchQueueFullException(string batcherName, int queuedRows, int capacityRows, int requestRows, TimeSpan retryAfter)
        : base($"Batcher '{batcherName}' queue is full ({queuedRows} of {capacityRows} rows queued, request of {requestRows} rows); retry after {retryAfter.TotalMilliseconds:F0} ms")
    {
        QueuedRows = queuedRows;
        CapacityRows = capacityRows;
        RetryAfter = retryAfter;
    }

    public int QueuedRows { get; }

    public int CapacityRows { get; }

    public TimeSpan RetryAfter { get; }
}

/// <summary>The scorer or the feature assembler failed for the batch holding this request; other batches are unaffected.</summary>
public sealed class BatchScoringException : Exception
{
    public BatchScoringException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
