using RecSys.Trainer.Ingestion;
using Spectre.Console;

namespace RecSys.Trainer.Commands;

/// <summary>What the commands take from the outside world; tests replace the console, the HTTP handler and the delays.</summary>
public sealed record TrainerEnvironment
{
    public IAnsiConsole Console { get; init; } = DefaultConsole();

    /// <summary>Progress bars when true; periodic plain lines when false (stdout redirected, as under Aspire).</summary>
    public bool Interactive { get; init; } = !System.Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    public Func<HttpMessageHandler> CreateHandler { get; init; } = () => new SocketsHttpHandler
    {
        ConnectTimeout = TimeSpan.FromSeconds(5),
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
    };

    public RetryOptions Retry { get; init; } = new();
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>How often <c>seed</c> polls the status while waiting.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);

    public Func<string, string?> GetEnvironmentVariable { get; init; } = Environment.GetEnvironmentVariable;

    /// <summary>The process console; when redirected, wide enough that log lines are not wrapped at 80 columns.</summary>
    private static IAnsiConsole DefaultConsole()
    {
        var console = AnsiConsole.Console;
        if (System.Console.IsOutputRedirected)
        {
            console.Profile.Width = 240;
        }

        return console;
    }

    public FeatureServerClient CreateClient(Uri target, IRunProgress? progress = null)
    {
        var http = new HttpClient(CreateHandler(), disposeHandler: true)
        {
            BaseAddress = target,
            Timeout = Timeout.InfiniteTimeSpan,
        };
        return new FeatureServerClient(http, Retry, Time, progress is null ? null : progress.Note);
    }
}
