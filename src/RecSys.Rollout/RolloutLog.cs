using Microsoft.Extensions.Logging;

namespace RecSys.Rollout;

internal static partial class RolloutLog
{
    [LoggerMessage(EventId = 7000, Level = LogLevel.Information, Message = "Rollout {RolloutId}: started, candidate {Candidate} against production {Production}, stage Shadow")]
    public static partial void Started(ILogger logger, string rolloutId, string candidate, string production);

    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "Rollout {RolloutId}: {From} -> {To} ({Percent} % of users on the candidate): {Cause}")]
    public static partial void Advanced(ILogger logger, string rolloutId, RolloutStage from, RolloutStage to, double percent, string cause);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Warning, Message = "Rollout {RolloutId}: {From} -> {To} forced past its gates by an operator: {Reason}")]
    public static partial void Forced(ILogger logger, string rolloutId, RolloutStage from, RolloutStage to, string reason);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Error, Message = "Model rollback: rollout {RolloutId} of {Candidate} rolled back in {Stage}, gate {Gate}: {Reason}. Traffic is back on {Production}")]
    public static partial void RolledBack(ILogger logger, string rolloutId, string candidate, RolloutStage stage, string gate, string reason, string production);

    [LoggerMessage(EventId = 7004, Level = LogLevel.Information, Message = "Rollout {RolloutId}: {Candidate} is production; cleaned up {Removed}")]
    public static partial void Completed(ILogger logger, string rolloutId, string candidate, string removed);

    [LoggerMessage(EventId = 7005, Level = LogLevel.Error, Message = "Rollout {RolloutId}: the model registry refused {Operation} of {Version}")]
    public static partial void RegistryFailed(ILogger logger, string rolloutId, string operation, string version, Exception exception);

    [LoggerMessage(EventId = 7006, Level = LogLevel.Information, Message = "Rollout {RolloutId}: resumed in stage {Stage} (started {StageStartedAt:O}); the gate window starts empty")]
    public static partial void Resumed(ILogger logger, string rolloutId, RolloutStage stage, DateTimeOffset stageStartedAt);

    [LoggerMessage(EventId = 7007, Level = LogLevel.Error, Message = "Rollout gate evaluation failed; it runs again at the next interval")]
    public static partial void EvaluationFailed(ILogger logger, Exception exception);
}
