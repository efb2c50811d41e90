using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;
using RecSys.ServiceDefaults.Security;

namespace RecSys.ServiceDefaults.Tests;

public sealed class AdaptiveConcurrencyLimiterTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void Beyond_the_limit_a_request_is_refused_at_once_with_retry_after()
    {
        using var limiter = Create(initial: 2, min: 1);
        using var a = limiter.AttemptAcquire();
        using var b = limiter.AttemptAcquire();
        using var refused = limiter.AttemptAcquire();

        Assert.True(a.IsAcquired);
        Assert.True(b.IsAcquired);
        Assert.False(refused.IsAcquired);
        Assert.True(refused.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter));
        Assert.True(retryAfter > TimeSpan.Zero);

        a.Dispose();
        using var next = limiter.AttemptAcquire();
        Assert.True(next.IsAcquired);
    }

    [Fact]
    public void A_window_whose_p99_is_above_the_target_shrinks_the_limit_by_a_fifth()
    {
        using var limiter = Create(initial: 50);

        CompleteWindow(limiter, concurrent: 25, latency: TimeSpan.FromMilliseconds(400));

        Assert.Equal(40, limiter.CurrentLimit);
    }

    [Fact]
    public void A_slow_window_at_low_concurrency_does_not_shrink_the_limit()
    {
        using var limiter = Create(initial: 50);

        // A pause that slows every request while few are in flight: the limit is not what made them slow.
        CompleteWindow(limiter, concurrent: 5, latency: TimeSpan.FromMilliseconds(900));

        Assert.Equal(50, limiter.CurrentLimit);
    }

    [Fact]
    public void Repeated_slow_windows_stop_at_the_floor()
    {
        using var limiter = Create(initial: 50, min: 4);

        for (var i = 0; i < 30; i++)
        {
            CompleteWindow(limiter, concurrent: limiter.CurrentLimit, latency: TimeSpan.FromSeconds(1));
        }

        Assert.Equal(4, limiter.CurrentLimit);
    }

    [Fact]
    public void A_fast_window_that_reached_the_limit_grows_it_up_to_the_ceiling()
    {
        using var limiter = Create(initial: 10, max: 16);

        CompleteWindow(limiter, concurrent: 10, latency: TimeSpan.FromMilliseconds(50));
        Assert.Equal(12, limiter.CurrentLimit);

        for (var i = 0; i < 10; i++)
        {
            CompleteWindow(limiter, concurrent: limiter.CurrentLimit, latency: TimeSpan.FromMilliseconds(50));
        }

        Assert.Equal(16, limiter.CurrentLimit);
    }

    [Fact]
    public void A_fast_window_far_below_the_limit_leaves_it_alone()
    {
        using var limiter = Create(initial: 10);

        CompleteWindow(limiter, concurrent: 3, latency: TimeSpan.FromMilliseconds(50));

        Assert.Equal(10, limiter.CurrentLimit);
    }

    [Fact]
    public void Latency_between_the_bands_keeps_the_limit()
    {
        using var limiter = Create(initial: 10);

        // 0.7 x 300 ms <= 250 ms <= 300 ms: neither grow nor shrink.
        CompleteWindow(limiter, concurrent: 10, latency: TimeSpan.FromMilliseconds(250));

        Assert.Equal(10, limiter.CurrentLimit);
    }

    [Fact]
    public void The_limit_does_not_move_before_the_window_has_its_samples()
    {
        using var limiter = Create(initial: 50);
        for (var i = 0; i < 19; i++)
        {
            var lease = limiter.AttemptAcquire();
            _time.Advance(TimeSpan.FromSeconds(1));
            lease.Dispose();
        }

        Assert.Equal(50, limiter.CurrentLimit);
    }

    [Fact]
    public void A_lease_released_twice_frees_one_permit()
    {
        using var limiter = Create(initial: 1, min: 1);
        var lease = limiter.AttemptAcquire();
        lease.Dispose();
        lease.Dispose();

        using var a = limiter.AttemptAcquire();
        using var b = limiter.AttemptAcquire();

        Assert.True(a.IsAcquired);
        Assert.False(b.IsAcquired);
    }

    [Fact]
    public void Options_without_a_target_are_refused()
    {
        Assert.Throws<ArgumentException>(() => new AdaptiveConcurrencyLimiter(new RateLimitingOptions { MaxConcurrentRequests = 10 }, _time));
    }

    private AdaptiveConcurrencyLimiter Create(int initial, int min = 4, int max = 128) => new(
        new RateLimitingOptions
        {
            MaxConcurrentRequests = max,
            MinConcurrentRequests = min,
            InitialConcurrentRequests = initial,
            ConcurrencyTargetP99 = TimeSpan.FromMilliseconds(300),
            ConcurrencyWindow = TimeSpan.FromSeconds(1),
            ConcurrencyWindowMinSamples = 20,
        },
        _time);

    /// <summary>Waves of <paramref name="concurrent"/> requests that each take <paramref name="latency"/>, until a window closes.</summary>
    private void CompleteWindow(AdaptiveConcurrencyLimiter limiter, int concurrent, TimeSpan latency)
    {
        var before = limiter.CurrentLimit;
        var completed = 0;
        var elapsed = TimeSpan.Zero;
        while (completed < 20 || elapsed < TimeSpan.FromSeconds(1))
        {
            var leases = new List<RateLimitLease>();
            for (var i = 0; i < concurrent; i++)
            {
                var lease = limiter.AttemptAcquire();
                Assert.True(lease.IsAcquired);
                leases.Add(lease);
            }

            _time.Advance(latency);
            elapsed += latency;
            foreach (var lease in leases)
            {
                lease.Dispose();
                completed++;
                if (limiter.CurrentLimit != before)
                {
                    // The window closed on this completion; the rest of the wave belongs to the next one.
                    leases.Skip(leases.IndexOf(lease) + 1).ToList().ForEach(l => l.Dispose());
                    return;
                }
            }
        }
    }
}
