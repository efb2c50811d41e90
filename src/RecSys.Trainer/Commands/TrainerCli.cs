using System.CommandLine;
using Spectre.Console;

namespace RecSys.Trainer.Commands;

/// <summary>The <c>RecSys.Trainer</c> command line: one class per command group, wired here.</summary>
public static class TrainerCli
{
    public static RootCommand Build(TrainerEnvironment env)
    {
        var root = new RootCommand("RecSys trainer: generate synthetic data, import data sets and feed the FeatureServer.");
        root.Options.Add(ApiKeyOption());
        root.Subcommands.Add(GenerateCommands.Generate(env));
        root.Subcommands.Add(GenerateCommands.Ingest(env));
        root.Subcommands.Add(ImportCommands.Create(env));
        root.Subcommands.Add(SeedCommand.Create(env));
        root.Subcommands.Add(TrainCommand.Create(env));
        root.Subcommands.Add(EvaluateCommand.Create(env));
        root.Subcommands.Add(RetrainCommand.Create(env));
        root.Subcommands.Add(Ranking.TrainRankersCommand.Create(env));
        root.Subcommands.Add(PublishCommand.Create(env));
        root.Subcommands.Add(CtrCommand.Create(env));
        return root;
    }

    /// <summary>
    /// Parses once to read <c>--api-key</c> (an option of every command), then runs the command with the key in its
    /// environment, so that every client the command builds sends it.
    /// </summary>
    /// <summary>
    /// Runs one command line from inside another command (seed, evaluate, retrain) on the same environment: errors come back
    /// as the exit code and the caller's process keeps its own termination handling.
    /// </summary>
    public static Task<int> InvokeNestedAsync(TrainerEnvironment env, string[] line, CancellationToken cancellationToken) =>
        Build(env).Parse(line).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null }, cancellationToken);

    public static async Task<int> RunAsync(string[] args, TrainerEnvironment env, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(env);
        var parsed = Build(env).Parse(args);
        if (parsed.Errors.Count == 0 && parsed.GetValue<string?>(ApiKeyOptionName) is { } key)
        {
            env = env with { ApiKey = key };
            parsed = Build(env).Parse(args);
        }

        return await parsed.InvokeAsync(cancellationToken: cancellationToken);
    }

    private const string ApiKeyOptionName = "--api-key";

    private static Option<string?> ApiKeyOption() => new(ApiKeyOptionName)
    {
        Description = $"API key sent as {TrainerEnvironment.ApiKeyHeader} to the RecSys services (default: ${TrainerEnvironment.ApiKeyVariable})",
        Recursive = true,
    };

    /// <summary>Runs a command body, turning known failures into one clear line and an exit code.</summary>
    internal static void SetAction(this Command command, TrainerEnvironment env, Func<ParseResult, CancellationToken, Task<int>> body) =>
        command.SetAction(async (result, cancellationToken) =>
        {
            try
            {
                return await body(result, cancellationToken);
            }
            catch (CliException ex)
            {
                env.Console.MarkupLineInterpolated($"[red]error:[/] {ex.Message}");
                return ex.ExitCode;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                env.Console.MarkupLine("[yellow]canceled[/]");
                return ExitCodes.Canceled;
            }
        });
}
