using Microsoft.Extensions.Logging;
using RecSys.Trainer.Retraining;

namespace RecSys.Trainer.Tests.Schedule;

public sealed class RetrainingSchedulerTests
{
    private static readonly DateTimeOffset Start = SchedulerHarness.Start;

    [Fact]
    public async Task The_first_run_is_at_the_next_slot_not_at_start_and_then_every_interval()
    {
        await using var harness = new SchedulerHarness();
        harness.StartLoop();

        await harness.WaitForAsync(s => s.NextRun == Start.AddDays(1));
        Assert.Equal(0, harness.CallsWaiting);
        Assert.Null(harness.Scheduler.Snapshot.LastRun);

        harness.Time.Advance(TimeSpan.FromDays(1));
        var call = await harness.NextCallAsync();
        var running = harness.Scheduler.Snapshot.Current!;
        Assert.Equal((1, RunTrigger.Schedule, Start.AddDays(1)), (running.Number, running.Trigger, running.StartedAt));

        call.Result.SetResult(RunResult.Success("/models/1"));
        var after = await harness.WaitForAsync(s => s.LastRun is not null && s.NextRun == Start.AddDays(2));
        Assert.Equal(RunOutcome.Succeeded, after.LastRun!.Outcome);
        Assert.Equal("/models/1", after.LastRun.ModelDirectory);
        Assert.Equal(Start.AddDays(1), after.LastSuccessAt);
        Assert.False(after.Running);

        harness.Time.Advance(TimeSpan.FromDays(1));
        var second = await harness.NextCallAsync();
        Assert.Equal(2, harness.Scheduler.Snapshot.Current!.Number);
        second.Result.SetResult(RunResult.Success("/models/2"));
        Assert.Equal(2, (await harness.WaitForAsync(s => s.RunsSucceeded == 2)).LastRun!.Number);
    }

    [Fact]
    public async Task Runs_never_overlap_a_manual_request_is_refused_and_a_slot_is_skipped_while_one_runs()
    {
        await using var harness = new SchedulerHarness();
        harness.StartLoop();
        await harness.WaitForAsync(s => s.NextRun == Start.AddDays(1));

        var first = harness.Scheduler.TryStart(RunTrigger.Manual);
        var call = await harness.NextCallAsync();
        var again = harness.Scheduler.TryStart(RunTrigger.Manual);

        Assert.True(first.Started);
        Assert.False(again.Started);
        Assert.Equal(first.Run, again.Run);

        // The daily slot comes while the manual run is still going: skipped, not queued; the next slot is a day later.
        harness.Time.Advance(TimeSpan.FromDays(1));
        await harness.WaitForAsync(s => s.NextRun == Start.AddDays(2));
        Assert.Equal(0, harness.CallsWaiting);
        Assert.Contains(harness.Log.Entries, e => e.Level == LogLevel.Warning && e.EventId == 9104);

        call.Result.SetResult(RunResult.Success(null));
        await harness.WaitForAsync(s => s.LastRun is { Number: 1 } && !s.Running);
        var next = harness.Scheduler.TryStart(RunTrigger.Manual);
        Assert.True(next.Started);
        Assert.Equal(2, next.Run.Number);
        (await harness.NextCallAsync()).Result.SetResult(RunResult.Success(null));
        Assert.Equal(2, (await harness.WaitForAsync(s => s.RunsSucceeded == 2)).RunsSucceeded);
    }

    [Fact]
    public async Task A_run_that_throws_is_recorded_with_its_reason_logged_at_error_and_the_schedule_goes_on()
    {
        await using var harness = new SchedulerHarness(TimeSpan.FromHours(6));
        harness.StartLoop();
        await harness.WaitForAsync(s => s.NextRun == Start.AddHours(6));

        harness.Time.Advance(TimeSpan.FromHours(6));
        (await harness.NextCallAsync()).Result.SetException(new HttpRequestException("Retrieval refused the upload"));
        var failed = await harness.WaitForAsync(s => s.LastRun is not null && s.NextRun == Start.AddHours(12));

        Assert.True(failed.LastRunFailed);
        Assert.Equal("Retrieval refused the upload", failed.LastRun!.Failure);
        Assert.Equal((0, 1), (failed.RunsSucceeded, failed.RunsFailed));
        Assert.Null(failed.LastSuccessAt);
        var error = Assert.Single(harness.Log.Entries, e => e.Level == LogLevel.Error);
        Assert.Equal(9103, error.EventId);
        Assert.Contains("Retrieval refused the upload", error.Message, StringComparison.Ordinal);

        harness.Time.Advance(TimeSpan.FromHours(6));
        (await harness.NextCallAsync()).Result.SetResult(RunResult.Success("/models/2"));
        var recovered = await harness.WaitForAsync(s => s.RunsSucceeded == 1);
        Assert.False(recovered.LastRunFailed);
        Assert.Equal(Start.AddHours(12), recovered.LastSuccessAt);
    }

    [Fact]
    public async Task A_run_that_reports_failure_keeps_its_reason()
    {
        await using var harness = new SchedulerHarness();

        harness.Scheduler.TryStart(RunTrigger.Manual);
        (await harness.NextCallAsync()).Result.SetResult(RunResult.Fail("train exited with code 3: FeatureServer unreachable"));
        var failed = await harness.WaitForAsync(s => s.LastRun is not null);

        Assert.Equal(RunOutcome.Failed, failed.LastRun!.Outcome);
        Assert.Equal(RunTrigger.Manual, failed.LastRun.Trigger);
        Assert.Equal("train exited with code 3: FeatureServer unreachable", failed.LastRun.Failure);
    }

    [Fact]
    public async Task Disposing_cancels_the_run_in_progress_and_refuses_new_ones()
    {
        var harness = new SchedulerHarness();
        harness.Scheduler.TryStart(RunTrigger.Manual);
        var call = await harness.NextCallAsync();

        await harness.DisposeAsync();

        Assert.True(call.CancellationToken.IsCancellationRequested);
        Assert.Equal(RunOutcome.Canceled, harness.Scheduler.Snapshot.LastRun!.Outcome);
        Assert.False(harness.Scheduler.Snapshot.LastRunFailed);
        Assert.Throws<ObjectDisposedException>(() => harness.Scheduler.TryStart(RunTrigger.Manual));
    }
}
