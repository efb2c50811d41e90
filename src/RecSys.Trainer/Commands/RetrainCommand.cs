using System.CommandLine;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RecSys.ServiceDefaults.Security;
using RecSys.Trainer.Retraining;
using Spectre.Console;

namespace RecSys.Trainer.Commands;

/// <summary>
/// <c>retrain</c>: the AppHost's long-running retraining resource. Runs <c>train --publish</c> on a schedule (first at the
/// next slot, never at start: the seed has just trained) and on <c>POST /run</c>, and reports its state on <c>GET /health</c>.
/// Options after <c>--</c> are passed to <c>train</c> as they are.
/// </summary>
internal static class RetrainCommand
{
    public static Command Create(TrainerEnvironment env)
    {
        var every = new Option<string>("--every")
        {
            Description = "Interval between runs, as a TimeSpan (d.hh:mm:ss; at least 00:01:00)",
            DefaultValueFactory = _ => "1.00:00:00",
        };
        var at = new Option<string?>("--at") { Description = "UTC time of day (HH:mm) the runs are aligned to; default: counted from the start" };
        var modelDirectory = new Option<string>("--model-dir") { Description = "Folder for the models; each run writes a sub-folder named by its UTC start", Required = true };
        var keep = new Option<int>("--keep") { Description = "Model folders to keep (the oldest beyond this are deleted after a successful run)", DefaultValueFactory = _ => 7 };
        var rankersRegistry = new Option<string?>("--rankers-registry") { Description = "Model registry folder: after each train, train-rankers writes, registers and activates a ranker release there" };
        var urls = new Option<string?>("--urls") { Description = "Address of the HTTP endpoint (/health, POST /run); default: $ASPNETCORE_URLS, then http://localhost:5000" };
        var trainOptions = new Argument<string[]>("train-options") { Description = "Options for train, after --", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("retrain", "Retrain and publish on a schedule (train --publish), with /health and POST /run to train now.");
        foreach (var option in new Option[] { every, at, modelDirectory, keep, rankersRegistry, urls })
        {
            command.Options.Add(option);
        }

        command.Arguments.Add(trainOptions);
        command.SetAction(env, async (result, cancellationToken) =>
        {
            var schedule = ReadSchedule(result.GetValue(every)!, result.GetValue(at));
            if (result.GetValue(keep) < 1)
            {
                throw new CliException("--keep must be at least 1.");
            }

            var passThrough = result.GetValue(trainOptions) ?? [];
            if (!passThrough.Any(o => o == "--retrieval" || o.StartsWith("--retrieval=", StringComparison.Ordinal)) && string.IsNullOrWhiteSpace(env.GetEnvironmentVariable(SeedCommand.RetrievalVariable)))
            {
                throw new CliException($"retrain publishes every model: give the Retrieval service as ${SeedCommand.RetrievalVariable} or -- --retrieval <url>.");
            }

            var runner = new TrainCommandRunner(env, result.GetValue(modelDirectory)!, passThrough, result.GetValue(keep), Console.Out, result.GetValue(rankersRegistry));
            if (runner.Validate() is { Count: > 0 } errors)
            {
                throw new CliException("train options after --: " + string.Join(" ", errors));
            }

            var builder = WebApplication.CreateSlimBuilder();
            if (result.GetValue(urls) is { Length: > 0 } address)
            {
                builder.WebHost.UseUrls(address);
            }

            // The AppHost polls /health every few seconds: request logs would drown the training output.
            builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
            builder.Services.AddSingleton(env.Time);
            builder.Services.AddRetraining(schedule, runner.RunAsync);
            // The same keys and policies as the services (RecSys:Security:*; the AppHost passes the keys' hashes).
            builder.AddRecSysSecurity();
            // 401 and 403 are written as problem+json (the services get this from AddServiceDefaults).
            builder.Services.AddProblemDetails();
            await using var app = builder.Build();
            app.UseRecSysSecurity();
            app.MapRetrainingEndpoints();
            env.Console.MarkupLineInterpolated($"retraining {schedule.Describe()} into {result.GetValue(modelDirectory)}: {string.Join(' ', runner.CommandLine("<stamp>"))}");
            // The host's own RunAsync overload: stops gracefully (cancelling a run in progress) when the token fires.
            await ((IHost)app).RunAsync(cancellationToken);
            return ExitCodes.Ok;
        });
        return command;
    }

    internal static RetrainSchedule ReadSchedule(string every, string? at)
    {
        if (!TimeSpan.TryParse(every, CultureInfo.InvariantCulture, out var interval))
        {
            throw new CliException($"--every: '{every}' is not a TimeSpan (e.g. 1.00:00:00 for a day, 06:00:00 for six hours).");
        }

        TimeOnly? timeOfDay = null;
        if (!string.IsNullOrWhiteSpace(at))
        {
            if (!TimeOnly.TryParseExact(at, ["HH:mm", "HH:mm:ss"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var parsed))
            {
                throw new CliException($"--at: '{at}' is not a time of day (HH:mm, UTC).");
            }

            timeOfDay = parsed;
        }

        try
        {
            return new RetrainSchedule(interval, timeOfDay);
        }
        catch (ArgumentException ex)
        {
            throw new CliException($"--every: {ex.Message.Split(" (Parameter", 2)[0]}");
        }
    }
}
