using Microsoft.Extensions.Logging;

namespace RecSys.Batching;

internal static partial class BatchingLog
{
    [LoggerMessage(EventId = 4000, Level = LogLevel.Warning, Message = "Batcher {Name}: scoring a batch of {Rows} rows ({Requests} requests) failed; those requests fail, the batcher goes on")]
    public static partial void ScorerFailed(ILogger logger, string name, int rows, int requests, Exception exception);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "Batcher {Name}: assembling the features of a request failed; that request fails")]
    public static partial void AssemblerFailed(ILogger logger, string name, Exception exception);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "Batcher {Name}: p99 {P99Ms:F2} ms against target {TargetMs:F1} ms; max batch {OldRows} -> {NewRows} rows, max wait {OldWaitMs:F2} -> {NewWaitMs:F2} ms")]
    public static partial void LimitsAdapted(ILogger logger, string name, double p99Ms, double targetMs, int oldRows, int newRows, double oldWaitMs, double newWaitMs);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "Batcher {Name}: the queue did not drain within {TimeoutMs:F0} ms of disposal; {Rows} queued rows fail")]
    public static partial void DrainTimedOut(ILogger logger, string name, double timeoutMs, int rows);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Error, Message = "Batcher {Name}: a batch worker stopped on an unexpected error")]
    public static partial void WorkerFaulted(ILogger logger, string name, Exception exception);
}
