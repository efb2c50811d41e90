using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace RecSys.IntegrationTests;

/// <summary>
/// Writes the AppHost's logs, including every resource's console output, to one file, so that a failed start in CI
/// can say what each service printed.
/// </summary>
internal sealed class FileLoggerProvider(string path) : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly Lock _gate = new();

    public string Path { get; } = path;

    public ILogger CreateLogger(string categoryName) => new FileLogger(this, categoryName);

    public void Dispose() => Flush();

    public void Flush()
    {
        lock (_gate)
        {
            using var writer = File.AppendText(Path);
            while (_lines.TryDequeue(out var line))
            {
                writer.WriteLine(line);
            }
        }
    }

    /// <summary>The last lines written, for an assertion message.</summary>
    public string Tail(int lines)
    {
        Flush();
        return File.Exists(Path) ? string.Join('\n', File.ReadLines(Path).TakeLast(lines)) : "(no log)";
    }

    private sealed class FileLogger(FileLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            owner._lines.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel,-11} {category}: {formatter(state, exception)}{(exception is null ? "" : " " + exception)}");
            if (owner._lines.Count > 200)
            {
                owner.Flush();
            }
        }
    }
}
