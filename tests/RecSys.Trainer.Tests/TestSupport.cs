using System.Net;
using System.Text;
using RecSys.Trainer.Commands;
using RecSys.Trainer.Ingestion;
using Spectre.Console;

namespace RecSys.Trainer.Tests;

/// <summary>A CLI run in-process: a captured plain console, fast retries and an optional fake HTTP handler.</summary>
internal sealed class CliHarness
{
    private readonly StringWriter _output = new();

    public CliHarness(FakeHandler? handler = null, Dictionary<string, string>? environment = null)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(_output),
        });
        console.Profile.Width = 400;
        Environment = new TrainerEnvironment
        {
            Console = console,
            Interactive = false,
            CreateHandler = () => handler ?? throw new InvalidOperationException("This test has no HTTP handler."),
            Retry = new RetryOptions { MaxAttempts = 4, BaseDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(5), RequestTimeout = TimeSpan.FromSeconds(5) },
            PollInterval = TimeSpan.FromMilliseconds(5),
            GetEnvironmentVariable = name => environment is not null && environment.TryGetValue(name, out var value) ? value : null,
        };
    }

    public TrainerEnvironment Environment { get; }

    public string Output => _output.ToString();

    public Task<int> RunAsync(params string[] args) => TrainerCli.RunAsync(args, Environment);
}

/// <summary>A hand-written HTTP handler: answers each request with a function of (request, body, call number).</summary>
internal sealed class FakeHandler(Func<HttpRequestMessage, string, int, HttpResponseMessage> respond) : HttpMessageHandler
{
    private int _calls;

    public List<(HttpMethod Method, string Path, string Body)> Requests { get; } = [];

    public int Calls => Volatile.Read(ref _calls);

    public static HttpResponseMessage Json(HttpStatusCode status, string json, string mediaType = "application/json") =>
        new(status) { Content = new StringContent(json, Encoding.UTF8, mediaType) };

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
        var call = Interlocked.Increment(ref _calls);
        lock (Requests)
        {
            Requests.Add((request.Method, request.RequestUri!.AbsolutePath, body));
        }

        return respond(request, body, call);
    }
}

internal sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "recsys-trainer-tests", Guid.NewGuid().ToString("N"));

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Write(string name, string content)
    {
        var path = File(name);
        System.IO.File.WriteAllText(path, content);
        return path;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp folder left behind does no harm.
        }
    }
}

internal static class Fixtures
{
    public static string Path(string name) => System.IO.Path.Combine(AppContext.BaseDirectory, "Fixtures", name);
}
