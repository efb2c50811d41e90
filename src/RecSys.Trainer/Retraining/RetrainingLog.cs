using Microsoft.Extensions.Logging;

namespace RecSys.Trainer.Retraining;

/// <summary>The retraining job's log lines (event ids 9100-9199).</summary>
internal static partial class RetrainingLog
{
    [LoggerMessage(EventId = 9100, Level = LogLevel.Information, Message = "Retraining scheduled {Schedule}; next run at {NextRun:O}")]
    public static partial void Scheduled(ILogger logger, string schedule, DateTimeOffset nextRun);

    [LoggerMessage(EventId = 9101, Level = LogLevel.Information, Message = "Retraining run {Run} started ({Trigger})")]
    public static partial void RunStarted(ILogger logger, int run, RunTrigger trigger);

    [LoggerMessage(EventId = 9102, Level = LogLevel.Information, Message = "Retraining run {Run} succeeded in {Seconds:N1} s; model {ModelDirectory} published")]
    public static partial void RunSucceeded(ILogger logger, int run, double seconds, string? modelDirectory);

    [LoggerMessage(EventId = 9103, Level = LogLevel.Error, Message = "Retraining run {Run} failed after {Seconds:N1} s; the previous model keeps serving: {Reason}")]
    public static partial void RunFailed(ILogger logger, int run, double seconds, string reason, Exception? exception);

    [LoggerMessage(EventId = 9104, Level = LogLevel.Warning, Message = "Scheduled retraining skipped: run {Run} has been in progress since {StartedAt:O}")]
    public static partial void SlotSkipped(ILogger logger, int run, DateTimeOffset startedAt);

    [LoggerMessage(EventId = 9105, Level = LogLevel.Warning, Message = "Retraining run {Run} canceled by shutdown")]
    public static partial void RunCanceled(ILogger logger, int run);
}
