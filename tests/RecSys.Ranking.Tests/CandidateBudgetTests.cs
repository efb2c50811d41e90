using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using RecSys.Ranking.Services;

namespace RecSys.Ranking.Tests;

public sealed class CandidateBudgetTests
{
    private static readonly TimeSpan Slow = TimeSpan.FromMilliseconds(400);
    private static readonly TimeSpan Steady = TimeSpan.FromMilliseconds(70);
    private static readonly TimeSpan Fast = TimeSpan.FromMilliseconds(20);

    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void Starts_at_the_full_budget()
    {
        var budget = Create();

        Assert.Equal(5000, budget.Current);
        Assert.False(budget.IsReduced);
    }

    [Fact]
    public void Each_window_over_the_target_takes_the_next_step_down_and_the_last_step_is_the_floor()
    {
        var budget = Create();
        var seen = new List<int>();

        for (var i = 0; i < 6; i++)
        {
            Window(budget, Slow);
            seen.Add(budget.Current);
        }

        Assert.Equal([2500, 1000, 500, 500, 500, 500], seen);
        Assert.True(budget.IsReduced);
    }

    [Fact]
    public void A_window_with_too_few_requests_does_not_make_the_budget_smaller()
    {
        var budget = Create();

        Window(budget, TimeSpan.FromSeconds(3), requests: 19);

        Assert.Equal(5000, budget.Current);
    }

    [Fact]
    public void A_client_asking_one_request_at_a_time_is_not_load_even_when_one_request_is_slow()
    {
        var budget = Create();

        // 24 requests back to back in one second, one of them slow: the p99 is over the target, but ~1 request was in flight.
        for (var i = 0; i < 5; i++)
        {
            for (var r = 0; r < 23; r++)
            {
                budget.Record(TimeSpan.FromMilliseconds(30));
            }

            _time.Advance(TimeSpan.FromSeconds(1));
            budget.Record(TimeSpan.FromMilliseconds(300));
        }

        Assert.Equal(5000, budget.Current);
    }

    [Fact]
    public void A_step_comes_back_only_after_latency_stayed_under_half_the_target_for_the_recovery_time()
    {
        var budget = Create();
        Window(budget, Slow);
        Window(budget, Slow);
        Assert.Equal(1000, budget.Current);

        // 4 s of calm windows: not yet (recovery needs 5 s).
        for (var i = 0; i < 4; i++)
        {
            Window(budget, Fast);
        }

        Assert.Equal(1000, budget.Current);
        Window(budget, Fast);
        Assert.Equal(2500, budget.Current);

        // One step per recovery period, not one per window.
        Window(budget, Fast);
        Assert.Equal(2500, budget.Current);
        for (var i = 0; i < 4; i++)
        {
            Window(budget, Fast);
        }

        Assert.Equal(5000, budget.Current);
    }

    [Fact]
    public void A_step_back_that_does_not_hold_doubles_the_wait_for_the_next_one_until_the_full_budget_holds_again()
    {
        var budget = Create();
        Window(budget, Slow);
        Assert.Equal(2500, budget.Current);
        Calm(budget, windows: 5);
        Assert.Equal(5000, budget.Current);

        // The full budget is too much: down again within 5 s of the step back, so the next try waits 10 s.
        Window(budget, Slow);
        Assert.Equal(2500, budget.Current);
        Calm(budget, windows: 9);
        Assert.Equal(2500, budget.Current);
        Calm(budget, windows: 1);
        Assert.Equal(5000, budget.Current);

        // Failing again: 20 s.
        Window(budget, Slow);
        Calm(budget, windows: 19);
        Assert.Equal(2500, budget.Current);
        Calm(budget, windows: 1);
        Assert.Equal(5000, budget.Current);

        // This time the full budget holds for the 20 s wait: the next overload recovers after 5 s again.
        Calm(budget, windows: 20);
        Window(budget, Slow);
        Calm(budget, windows: 5);
        Assert.Equal(5000, budget.Current);
    }

    [Fact]
    public void The_wait_never_exceeds_its_maximum()
    {
        var budget = Create(configure: o => o.MaxRecoverAfter = TimeSpan.FromSeconds(8));
        for (var i = 0; i < 4; i++)
        {
            Window(budget, Slow);
            Calm(budget, windows: 8);
            Assert.Equal(5000, budget.Current);
        }
    }

    [Fact]
    public void Latency_under_the_target_but_not_calm_holds_the_budget_and_restarts_the_wait()
    {
        var budget = Create();
        Window(budget, Slow);
        for (var i = 0; i < 4; i++)
        {
            Window(budget, Fast);
        }

        // 70 ms: under the 100 ms target, over half of it.
        Window(budget, Steady);
        for (var i = 0; i < 4; i++)
        {
            Window(budget, Fast);
        }

        Assert.Equal(2500, budget.Current);
        Window(budget, Fast);
        Assert.Equal(5000, budget.Current);
    }

    [Fact]
    public void An_idle_service_recovers_without_requests_counting_as_load()
    {
        var budget = Create();
        Window(budget, Slow);

        // A trickle of requests: windows too small to judge count as calm.
        for (var i = 0; i < 5; i++)
        {
            Window(budget, Slow, requests: 1);
        }

        Assert.Equal(5000, budget.Current);
    }

    [Fact]
    public void Steps_at_or_above_the_full_budget_are_skipped()
    {
        var budget = Create(full: 1000);

        Window(budget, Slow);
        Assert.Equal(500, budget.Current);
        Window(budget, Slow);
        Assert.Equal(500, budget.Current);
    }

    [Fact]
    public void Disabled_keeps_the_full_budget_whatever_the_latency()
    {
        var budget = Create(configure: o => o.Enabled = false);

        for (var i = 0; i < 5; i++)
        {
            Window(budget, TimeSpan.FromSeconds(5));
        }

        Assert.Equal(5000, budget.Current);
    }

    [Theory]
    [InlineData(new[] { 1000, 2500 })]
    [InlineData(new[] { 1000, 1000 })]
    [InlineData(new[] { 1000, 0 })]
    public void Steps_that_are_not_positive_and_strictly_decreasing_are_refused(int[] steps)
    {
        var result = new LoadDegradationStepsValidator().Validate(null, new LoadDegradationOptions { CandidateSteps = steps });

        Assert.True(result.Failed);
        Assert.Contains("strictly decreasing", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void The_default_steps_are_valid()
    {
        Assert.True(new LoadDegradationStepsValidator().Validate(null, new LoadDegradationOptions()).Succeeded);
        Assert.True(new LoadDegradationOptionsValidator().Validate(null, new LoadDegradationOptions()).Succeeded);
    }

    private CandidateBudget Create(int full = 5000, Action<LoadDegradationOptions>? configure = null)
    {
        var options = new LoadDegradationOptions();
        configure?.Invoke(options);
        return new CandidateBudget(
            Options.Create(new RankingOptions { CandidateCount = full }), Options.Create(options), _time, NullLogger<CandidateBudget>.Instance);
    }

    private void Calm(CandidateBudget budget, int windows)
    {
        for (var i = 0; i < windows; i++)
        {
            Window(budget, Fast);
        }
    }

    /// <summary>One 1 s window of <paramref name="requests"/> requests that each took <paramref name="latency"/>.</summary>
    private void Window(CandidateBudget budget, TimeSpan latency, int requests = 50)
    {
        for (var i = 0; i < requests - 1; i++)
        {
            budget.Record(latency);
        }

        _time.Advance(TimeSpan.FromSeconds(1));
        budget.Record(latency);
    }
}
