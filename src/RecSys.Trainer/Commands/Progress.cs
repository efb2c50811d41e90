using System.Diagnostics;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace RecSys.Trainer.Commands;

/// <summary>A phase of work (a file, a kind of record) whose progress is shown as it advances. Thread-safe.</summary>
public interface IProgressPhase
{
    void Advance(long count);
    void Complete();
}

/// <summary>Progress display of one command: Spectre.Console bars when interactive, periodic plain lines otherwise.</summary>
public interface IRunProgress
{
    IProgressPhase StartPhase(string name, long? expected);

    /// <summary>A remark (a retry, say): printed at once in plain mode, after the bars when interactive.</summary>
    void Note(string message);
}

/// <summary>A phase that shows nothing, for tests and library use.</summary>
public sealed class NullProgress : IRunProgress, IProgressPhase
{
    public static readonly NullProgress Instance = new();

    public IProgressPhase StartPhase(string name, long? expected) => this;
    public void Note(string message)
    {
    }

    public void Advance(long count)
    {
    }

    public void Complete()
    {
    }
}

internal static class ProgressRunner
{
    public static async Task<T> RunAsync<T>(TrainerEnvironment env, Func<IRunProgress, Task<T>> work)
    {
        if (!env.Interactive)
        {
            return await work(new PlainProgress(env.Console));
        }

        var notes = new List<string>();
        var result = await env.Console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new CountColumn(), new ElapsedTimeColumn())
            .StartAsync(ctx => work(new SpectreProgress(ctx, notes)));
        lock (notes)
        {
            foreach (var note in notes.TakeLast(10))
            {
                env.Console.MarkupLineInterpolated($"[yellow]{note}[/]");
            }

            if (notes.Count > 10)
            {
                env.Console.MarkupLineInterpolated($"[yellow]... {notes.Count - 10} more remarks[/]");
            }
        }

        return result;
    }

    private sealed class SpectreProgress(ProgressContext context, List<string> notes) : IRunProgress
    {
        public IProgressPhase StartPhase(string name, long? expected)
        {
            var task = context.AddTask(Markup.Escape(name), autoStart: true, maxValue: Math.Max(1, expected ?? 1));
            task.IsIndeterminate = expected is null;
            return new Phase(task);
        }

        public void Note(string message)
        {
            lock (notes)
            {
                notes.Add(message);
            }
        }

        private sealed class Phase(ProgressTask task) : IProgressPhase
        {
            private readonly Lock _gate = new();

            public void Advance(long count)
            {
                lock (_gate)
                {
                    if (task.Value + count > task.MaxValue)
                    {
                        task.MaxValue = (task.Value + count) * 1.1;
                    }

                    task.Increment(count);
                }
            }

            public void Complete()
            {
                lock (_gate)
                {
                    task.IsIndeterminate = false;
                    task.MaxValue = Math.Max(1, task.Value);
                    task.Value = task.MaxValue;
                    task.StopTask();
                }
            }
        }
    }

    /// <summary>Shows "done/expected rate/s" (Spectre's own columns are for bytes).</summary>
    private sealed class CountColumn : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime)
        {
            var rate = task.Speed ?? 0;
            var text = task.IsIndeterminate || task.IsFinished
                ? $"{task.Value:N0} {rate:N0}/s"
                : $"{task.Value:N0}/{task.MaxValue:N0} {rate:N0}/s";
            return new Text(text);
        }
    }

    /// <summary>One line per phase every few seconds and at the end: readable in a log (Aspire, CI, a redirected file).</summary>
    private sealed class PlainProgress(IAnsiConsole console) : IRunProgress
    {
        private static readonly long Interval = Stopwatch.Frequency * 5;
        private readonly Lock _gate = new();

        public IProgressPhase StartPhase(string name, long? expected)
        {
            Write(expected is { } e ? $"[{name}] started, about {e:N0} expected" : $"[{name}] started");
            return new Phase(this, name);
        }

        public void Note(string message) => Write(message);

        private void Write(string line)
        {
            lock (_gate)
            {
                console.WriteLine(line);
            }
        }

        private sealed class Phase(PlainProgress owner, string name) : IProgressPhase
        {
            private readonly long _started = Stopwatch.GetTimestamp();
            private long _count;
            private long _lastPrint = Stopwatch.GetTimestamp();

            public void Advance(long count)
            {
                var total = Interlocked.Add(ref _count, count);
                var now = Stopwatch.GetTimestamp();
                var last = Interlocked.Read(ref _lastPrint);
                if (now - last >= Interval && Interlocked.CompareExchange(ref _lastPrint, now, last) == last)
                {
                    owner.Write($"[{name}] {total:N0} ({Rate(total):N0}/s)");
                }
            }

            public void Complete()
            {
                var total = Interlocked.Read(ref _count);
                owner.Write($"[{name}] done: {total:N0} in {Stopwatch.GetElapsedTime(_started).TotalSeconds:N1} s ({Rate(total):N0}/s)");
            }

            private double Rate(long total) => total / Math.Max(Stopwatch.GetElapsedTime(_started).TotalSeconds, 1e-3);
        }
    }
}
