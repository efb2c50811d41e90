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

    /// <summary>The environment variable that holds the API key when <c>--api-key</c> is not given.</summary>
    public const string ApiKeyVariable = "RECSYS_API_KEY";

    /// <summary>The header the RecSys services read API keys from.</summary>
    public const string ApiKeyHeader = "X-Api-Key";

    /// <summary>The key given with <c>--api-key</c>; it wins over <see cref="ApiKeyVariable"/>.</summary>
    public string? ApiKey { get; init; }

    /// <summary>
    /// The key every request to a RecSys service carries: <see cref="ApiKey"/>, else <see cref="ApiKeyVariable"/>; none when
    /// both are empty. A key that cannot travel in a header (spaces, control characters) is an error naming where it came from.
    /// </summary>
    public string? ResolveApiKey()
    {
        var (key, source) = !string.IsNullOrWhiteSpace(ApiKey) ? (ApiKey, "--api-key") : (GetEnvironmentVariable(ApiKeyVariable), "$" + ApiKeyVariable);
        if (string.IsNullOrWhiteSpace(key))
        {
            return null;
        }

        key = key.Trim();
        if (key.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c > '\u007e'))
        {
            throw new CliException($"{source}: an API key is printable ASCII without spaces.");
        }

        return key;
    }

    /// <summary>An HttpClient for a RecSys service that sends the API key, if any.</summary>
    public HttpClient CreateHttpClient(Uri baseAddress, TimeSpan timeout)
    {
        var key = ResolveApiKey();
        var http = new HttpClient(CreateHandler(), disposeHandler: true) { BaseAddress = baseAddress, Timeout = timeout };
        if (key is not null)
        {
            http.DefaultRequestHeaders.Add(ApiKeyHeader, key);
        }

        return http;
    }

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
        var http = CreateHttpClient(target, Timeout.InfiniteTimeSpan);
        return new FeatureServerClient(http, Retry, Time, progress is null ? null : progress.Note);
    }
}
