using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using RecSys.Trainer.Retraining;

namespace RecSys.Trainer.Tests.Schedule;

/// <summary>One call of the run delegate, finished by the test.</summary>
internal sealed class RunCall(CancellationToken cancellationToken)
{
    public CancellationToken CancellationToken { get; } = cancellationToken;

    public TaskCompletionSource<RunResult> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>A scheduler on a fake clock whose runs the test finishes by hand, with its log lines kept.</summary>
internal sealed class SchedulerHarness : IAsyncDisposable
{
    public static readonly DateTimeOffset Start = new(2026, 12, 2, 10, 0, 0, TimeSpan.Zero);

    /// <summary>Only guards against a hang; no assertion depends on how long anything takes.</summary>
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(30);

    private readonly Channel<RunCall> _calls = Channel.CreateUnbounded<RunCall>();
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;

    public SchedulerHarness(TimeSpan? interval = null)
    {
        Scheduler = new RetrainingScheduler(new RetrainSchedule(interval ?? TimeSpan.FromDays(1)), RunAsync, Time, Log);
    }

    public FakeTimeProvider Time { get; } = new(Start);

    public ListLogger<RetrainingScheduler> Log { get; } = new();

    public RetrainingScheduler Scheduler { get; }

    public int CallsWaiting => _calls.Reader.Count;

    /// <summary>The run delegate: hands each call to the test and waits for the test's result (or for cancellation).</summary>
    public async Task<RunResult> RunAsync(CancellationToken cancellationToken)
    {
        var call = new RunCall(cancellationToken);
        await _calls.Writer.WriteAsync(call, cancellationToken);
        return await call.Result.Task.WaitAsync(cancellationToken);
    }

    public void StartLoop() => _loop = Task.Run(() => Scheduler.RunAsync(_stop.Token));

    public Task<RunCall> NextCallAsync() => _calls.Reader.ReadAsync().AsTask().WaitAsync(HangGuard);

    public Task<RetrainingSnapshot> WaitForAsync(Func<RetrainingSnapshot, bool> condition) => WaitForAsync(Scheduler, condition);

    public static async Task<RetrainingSnapshot> WaitForAsync(RetrainingScheduler scheduler, Func<RetrainingSnapshot, bool> condition)
    {
        var reached = new TaskCompletionSource<RetrainingSnapshot>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnChanged(RetrainingSnapshot s)
        {
            if (condition(s))
            {
                reached.TrySetResult(s);
            }
        }

        scheduler.Changed += OnChanged;
        try
        {
            OnChanged(scheduler.Snapshot);
            return await reached.Task.WaitAsync(HangGuard);
        }
        finally
        {
            scheduler.Changed -= OnChanged;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        await Scheduler.DisposeAsync();
        _stop.Dispose();
    }
}

internal sealed class ListLogger<T> : ILogger<T>
{
    private readonly List<(LogLevel Level, int EventId, string Message)> _entries = [];

    public IReadOnlyList<(LogLevel Level, int EventId, string Message)> Entries
    {
        get
        {
            lock (_entries)
            {
                return [.. _entries];
            }
        }
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_entries)
        {
            _entries.Add((logLevel, eventId.Id, formatter(state, exception)));
        }
    }
}
