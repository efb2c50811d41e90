using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using RecSys.Trainer.Commands;
using Spectre.Console;

namespace RecSys.Trainer.Retraining;

/// <summary>
/// One retraining run: <c>train --out &lt;models&gt;/&lt;UTC stamp&gt; --publish [train options]</c>, through the same command
/// line as by hand, so the schedule runs exactly what <c>trainer train</c> does. Its output goes to the process's console and
/// its last <c>error:</c> line becomes the run's failure reason. Keeps the newest <c>keep</c> model folders it wrote.
/// </summary>
internal sealed partial class TrainCommandRunner
{
    private const string StampFormat = "yyyyMMdd'T'HHmmss'Z'";

    private readonly TrainerEnvironment _env;
    private readonly string _modelRoot;
    private readonly IReadOnlyList<string> _trainOptions;
    private readonly int _keep;
    private readonly TextWriter _output;

    private readonly string? _rankersRegistry;

    public TrainCommandRunner(TrainerEnvironment env, string modelRoot, IReadOnlyList<string> trainOptions, int keep, TextWriter output, string? rankersRegistry = null)
    {
        _rankersRegistry = rankersRegistry is null ? null : Path.GetFullPath(rankersRegistry);
        ArgumentOutOfRangeException.ThrowIfLessThan(keep, 1);
        _env = env;
        _modelRoot = Path.GetFullPath(modelRoot);
        _trainOptions = trainOptions;
        _keep = keep;
        _output = output;
    }

    /// <summary>The <c>train</c> command line of a run writing to <paramref name="modelDirectory"/>.</summary>
    public string[] CommandLine(string modelDirectory) => ["train", "--out", modelDirectory, "--publish", .. _trainOptions];

    /// <summary>The <c>train-rankers</c> command line of a run (the embedding dimension and seed as <c>train</c>'s).</summary>
    public string[] RankersCommandLine()
    {
        List<string> line = ["train-rankers", "--registry", _rankersRegistry!, "--windows", "1"];
        for (var i = 0; i + 1 < _trainOptions.Count; i++)
        {
            if (_trainOptions[i] is "--dim" or "--seed" or "--alpha" or "--lambda" or "--target")
            {
                line.Add(_trainOptions[i]);
                line.Add(_trainOptions[i + 1]);
            }
        }

        return [.. line];
    }

    /// <summary>Parse errors of the pass-through options, found at start rather than at the first slot.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        foreach (var reserved in new[] { "--out", "--publish" })
        {
            if (_trainOptions.Any(o => o == reserved || o.StartsWith(reserved + "=", StringComparison.Ordinal) || o.StartsWith(reserved + ":", StringComparison.Ordinal)))
            {
                errors.Add($"{reserved} is set by retrain itself (the model folder comes from --model-dir).");
            }
        }

        if (errors.Count == 0)
        {
            errors.AddRange(TrainerCli.Build(_env).Parse(CommandLine(Path.Combine(_modelRoot, "check"))).Errors.Select(e => e.Message));
        }

        return errors;
    }

    public async Task<RunResult> RunAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(_modelRoot);
        var folder = NewFolder();
        using var recorder = new ErrorLineRecorder(_output);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(recorder),
        });
        console.Profile.Width = 240;
        var env = _env with { Console = console, Interactive = false };
        // Unexpected exceptions propagate (the scheduler records their message); termination signals belong to the host.
        var exitCode = await TrainerCli.InvokeNestedAsync(env, CommandLine(folder), cancellationToken).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        if (exitCode != ExitCodes.Ok)
        {
            return RunResult.Fail($"train exited with code {exitCode}: {recorder.LastError ?? "no error line, see the log"}");
        }

        if (_rankersRegistry is not null)
        {
            // Then the ranking stages on the same events; a failure leaves the active ranker release serving.
            exitCode = await TrainerCli.InvokeNestedAsync(env, RankersCommandLine(), cancellationToken).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            if (exitCode != ExitCodes.Ok)
            {
                return RunResult.Fail($"train-rankers exited with code {exitCode}: {recorder.LastError ?? "no error line, see the log"} (the embeddings were published)");
            }
        }

        Prune();
        return RunResult.Success(folder);
    }

    private string NewFolder()
    {
        var stamp = _env.Time.GetUtcNow().UtcDateTime.ToString(StampFormat, CultureInfo.InvariantCulture);
        var folder = Path.Combine(_modelRoot, stamp);
        for (var n = 2; Directory.Exists(folder); n++)
        {
            folder = Path.Combine(_modelRoot, $"{stamp}-{n.ToString(CultureInfo.InvariantCulture)}");
        }

        return folder;
    }

    /// <summary>Deletes the oldest of the model folders retrain wrote (by name: the stamps sort by time) beyond <c>keep</c>.</summary>
    private void Prune()
    {
        var ours = Directory.EnumerateDirectories(_modelRoot)
            .Where(d => StampedFolder().IsMatch(Path.GetFileName(d)))
            .OrderByDescending(d => Path.GetFileName(d), StringComparer.Ordinal)
            .Skip(_keep);
        foreach (var old in ours)
        {
            try
            {
                Directory.Delete(old, recursive: true);
            }
            catch (IOException ex)
            {
                _output.WriteLine($"could not delete the old model folder {old}: {ex.Message}");
            }
        }
    }

    [GeneratedRegex(@"^\d{8}T\d{6}Z(-\d+)?$")]
    private static partial Regex StampedFolder();

    /// <summary>Forwards everything to the real output and remembers the last line that starts with <c>error:</c>.</summary>
    private sealed class ErrorLineRecorder(TextWriter inner) : TextWriter
    {
        private readonly StringBuilder _line = new();

        public string? LastError { get; private set; }

        public override Encoding Encoding => inner.Encoding;

        public override void Write(char value)
        {
            inner.Write(value);
            if (value == '\n')
            {
                EndLine();
            }
            else if (value != '\r')
            {
                _line.Append(value);
            }
        }

        public override void Write(string? value)
        {
            if (value is null)
            {
                return;
            }

            inner.Write(value);
            foreach (var c in value)
            {
                if (c == '\n')
                {
                    EndLine();
                }
                else if (c != '\r')
                {
                    _line.Append(c);
                }
            }
        }

        public override void Flush() => inner.Flush();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                EndLine();
                inner.Flush();
            }

            base.Dispose(disposing);
        }

        private void EndLine()
        {
            var line = _line.ToString().Trim();
            _line.Clear();
            if (line.StartsWith("error:", StringComparison.Ordinal))
            {
                LastError = line["error:".Length..].Trim();
            }
        }
    }
}
