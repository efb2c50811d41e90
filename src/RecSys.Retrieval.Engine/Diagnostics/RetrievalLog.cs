namespace RecSys.Retrieval.Diagnostics;

internal static partial class RetrievalLog
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Warning, Message = "Candidate source {Source} failed ({Reason}); continuing without it")]
    public static partial void SourceFailed(ILogger logger, string source, string reason, Exception? exception);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Error, Message = "Critical candidate source {Source} failed ({Reason}); budgets of {Boosted} raised x{Multiplier}")]
    public static partial void CriticalSourceFailed(ILogger logger, string source, string reason, string boosted, double multiplier, Exception? exception);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Debug, Message = "Backfill from {Source}: budget {Budget}, {Eligible} of {Count} candidates so far")]
    public static partial void Backfill(ILogger logger, string source, int budget, int eligible, int count);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Warning, Message = "Candidate source {Source} is configured but not registered; it is skipped")]
    public static partial void SourceNotRegistered(ILogger logger, string source);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "Candidate source {Source} is registered but Retrieval:Sources:{Source} (Budget, Weight) is not configured; it is skipped")]
    public static partial void SourceNotConfigured(ILogger logger, string source);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Information, Message = "Retrieval warmed up in {ElapsedMs:F1} ms (degraded: [{Degraded}])")]
    public static partial void WarmedUp(ILogger logger, double elapsedMs, string degraded);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Warning, Message = "Retrieval warm-up failed; the first requests may be slow")]
    public static partial void WarmupFailed(ILogger logger, Exception exception);
}
