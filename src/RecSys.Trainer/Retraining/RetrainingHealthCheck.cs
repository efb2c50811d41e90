using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace RecSys.Trainer.Retraining;

/// <summary>Healthy while idle or training (last and next run in the data); Degraded while the last finished run failed, with its reason.</summary>
internal sealed class RetrainingHealthCheck(RetrainingScheduler scheduler) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var snapshot = scheduler.Snapshot;
        var data = Describe(snapshot);
        var next = snapshot.NextRun is { } n ? $"next run at {Format(n)}" : "no run scheduled yet";
        if (snapshot.LastRunFailed)
        {
            var last = snapshot.LastRun!;
            var serving = snapshot.LastSuccessAt is { } success ? $"the model of {Format(success)} keeps serving" : "the model published before keeps serving";
            var retrying = snapshot.Current is { } running ? $"; {Training(running)}" : "";
            return Task.FromResult(HealthCheckResult.Degraded(
                $"run {last.Number} ({Name(last.Trigger)}) failed at {Format(last.FinishedAt!.Value)}: {last.Failure}; {serving}{retrying}; {next}", data: data));
        }

        var now = snapshot.Current is { } current
            ? Training(current)
            : snapshot.LastRun is { } lastRun
                ? $"idle; run {lastRun.Number} {(lastRun.Outcome == RunOutcome.Succeeded ? "succeeded" : "was canceled")} at {Format(lastRun.FinishedAt!.Value)}"
                : "idle; no run yet";
        return Task.FromResult(HealthCheckResult.Healthy($"{now}; {next}", data));
    }

    internal static Dictionary<string, object> Describe(RetrainingSnapshot snapshot)
    {
        var data = new Dictionary<string, object>
        {
            ["schedule"] = snapshot.Schedule,
            ["state"] = snapshot.Running ? "training" : "idle",
            ["runsSucceeded"] = snapshot.RunsSucceeded,
            ["runsFailed"] = snapshot.RunsFailed,
        };
        if (snapshot.NextRun is { } next)
        {
            data["nextRun"] = Format(next);
        }

        if (snapshot.Current is { } current)
        {
            data["currentRun"] = current.Number;
            data["currentRunStartedAt"] = Format(current.StartedAt);
            data["currentRunTrigger"] = Name(current.Trigger);
        }

        if (snapshot.LastRun is { } last)
        {
            data["lastRun"] = last.Number;
            data["lastRunTrigger"] = Name(last.Trigger);
            data["lastRunOutcome"] = last.Outcome.ToString().ToLowerInvariant();
            data["lastRunStartedAt"] = Format(last.StartedAt);
            data["lastRunFinishedAt"] = Format(last.FinishedAt!.Value);
            if (last.ModelDirectory is { } model)
            {
                data["lastRunModel"] = model;
            }

            if (last.Failure is { } failure)
            {
                data["lastRunFailure"] = failure;
            }
        }

        if (snapshot.LastSuccessAt is { } success)
        {
            data["lastSuccessAt"] = Format(success);
        }

        return data;
    }

    private static string Training(RunRecord run) => $"training: run {run.Number} ({Name(run.Trigger)}) since {Format(run.StartedAt)}";

    private static string Name(RunTrigger trigger) => trigger == RunTrigger.Schedule ? "scheduled" : "manual";

    private static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
