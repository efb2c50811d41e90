namespace RecSys.Trainer.Retraining;

/// <summary>What started a run.</summary>
public enum RunTrigger
{
    Schedule,
    Manual,
}

public enum RunOutcome
{
    Running,
    Succeeded,
    Failed,
    Canceled,
}

/// <summary>What one run reports back: success with the model folder it wrote, or the reason it failed.</summary>
public sealed record RunResult(bool Succeeded, string? ModelDirectory, string? Failure)
{
    public static RunResult Success(string? modelDirectory) => new(true, modelDirectory, null);

    public static RunResult Fail(string reason) => new(false, null, reason);
}

/// <summary>One run, in progress or finished.</summary>
public sealed record RunRecord(
    int Number,
    RunTrigger Trigger,
    DateTimeOffset StartedAt,
    DateTimeOffset? FinishedAt,
    RunOutcome Outcome,
    string? ModelDirectory,
    string? Failure);

/// <summary>An immutable picture of the retraining job, as /health reports it.</summary>
public sealed record RetrainingSnapshot(
    string Schedule,
    DateTimeOffset? NextRun,
    RunRecord? Current,
    RunRecord? LastRun,
    DateTimeOffset? LastSuccessAt,
    int RunsSucceeded,
    int RunsFailed)
{
    public bool Running => Current is not null;

    /// <summary>Degraded while the most recent finished run failed; the model it would have replaced keeps serving.</summary>
    public bool LastRunFailed => LastRun is { Outcome: RunOutcome.Failed };
}

/// <summary>The answer to a request for a run: the run that started, or the one already in progress.</summary>
public sealed record RunStart(bool Started, RunRecord Run);
