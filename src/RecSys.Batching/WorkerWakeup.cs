using System.Threading.Tasks.Sources;

namespace RecSys.Batching;

/// <summary>
/// Where an idle batch worker parks: woken by new work or by its timer, whichever comes first. Reusable, so parking
/// allocates nothing; the timer comes from the batcher's TimeProvider, so tests move it with a fake clock.
/// </summary>
internal sealed class WorkerWakeup : IValueTaskSource<bool>, IDisposable
{
    private const int Idle = 0;
    private const int Waiting = 1;
    private const int Signalled = 2;

    private readonly ITimer _timer;
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private int _state;
    private bool _timerArmed;

    public WorkerWakeup(TimeProvider timeProvider) =>
        _timer = timeProvider.CreateTimer(static state => ((WorkerWakeup)state!).TrySignal(byWork: false), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

    /// <summary>Announces the worker is about to wait; it must check for work after this and before awaiting.</summary>
    public void Arm()
    {
        _core.Reset();
        // A full fence: either the producer sees Waiting, or the worker's check after this sees the producer's item.
        Interlocked.Exchange(ref _state, Waiting);
    }

    /// <summary>Withdraws the announcement; false when a signal already arrived (then await it, it is complete).</summary>
    public bool TryDisarm() => Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting;

    public ValueTask<bool> WaitAsync(TimeSpan timeout)
    {
        if (timeout != Timeout.InfiniteTimeSpan)
        {
            _timerArmed = true;
            _timer.Change(timeout, Timeout.InfiniteTimeSpan);
        }

        return new ValueTask<bool>(this, _core.Version);
    }

    /// <summary>Wakes the worker if it is waiting; <paramref name="byWork"/> tells why.</summary>
    public bool TrySignal(bool byWork)
    {
        if (Interlocked.CompareExchange(ref _state, Signalled, Waiting) != Waiting)
        {
            return false;
        }

        _core.SetResult(byWork);
        return true;
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    public bool GetResult(short token)
    {
        var byWork = _core.GetResult(token);
        if (_timerArmed)
        {
            // A timer that still fires later only causes a spurious wake-up, which the worker tolerates.
            _timerArmed = false;
            _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        return byWork;
    }

    public void Dispose() => _timer.Dispose();
}
