using System.CommandLine;
using System.Diagnostics;
using RecSys.Core.Contracts;
using RecSys.Learning.Als;
using RecSys.Learning.Content;
using RecSys.Trainer.Generation;
using RecSys.Trainer.Ingestion;
using RecSys.Trainer.Training;
using Spectre.Console;

namespace RecSys.Trainer.Commands;

/// <summary>
/// <c>seed</c>: the AppHost's one-shot seeding resource. Waits for the FeatureServer, skips when it already has items
/// (with <c>--if-empty</c>), sends a small demo world ending now, and waits for the stream processor to catch up.
/// </summary>
internal static class SeedCommand
{
    /// <summary>Where Aspire's service discovery puts the Retrieval service's address.</summary>
    public const string RetrievalVariable = "services__retrieval__http__0";

    public static Command Create(TrainerEnvironment env)
    {
        var world = new WorldOptionSet(endDefaultsToNow: true, users: 1_000, items: 4_000, eventsPerUser: 100);
        var common = new CommonOptions();
        var ifEmpty = new Option<bool>("--if-empty") { Description = "Do nothing when the FeatureServer already has items" };
        var waitTimeout = new Option<int>("--wait-timeout") { Description = "Seconds to wait for the FeatureServer to answer", DefaultValueFactory = _ => 120 };
        var catchUpTimeout = new Option<int>("--catch-up-timeout") { Description = "Seconds to wait for the stream processor to catch up", DefaultValueFactory = _ => 300 };
        var retrievalTarget = new Option<string?>("--retrieval")
        {
            Description = $"Retrieval service URL to publish the trained embeddings to (default: ${RetrievalVariable}; none: skip)",
        };
        var latentVectors = new Option<bool>("--latent-vectors")
        {
            Description = "Publish the generator's own latent vectors instead of training embeddings on the seeded events",
        };
        var modelDirectory = new Option<string?>("--model-dir")
        {
            Description = "Folder for the trained model (default: a temporary folder)",
        };
        var rankersRegistry = new Option<string?>("--rankers-registry")
        {
            Description = "Model registry folder: after the embeddings, train the ranker release on the seeded events (train-rankers) and activate it there",
        };
        var command = new Command("seed", "Seed a FeatureServer with a demo world (for the AppHost).");
        world.AddTo(command);
        command.Options.Add(ifEmpty);
        command.Options.Add(waitTimeout);
        command.Options.Add(catchUpTimeout);
        command.Options.Add(retrievalTarget);
        command.Options.Add(latentVectors);
        command.Options.Add(modelDirectory);
        command.Options.Add(rankersRegistry);
        common.AddTo(command, withOnError: false);
        command.SetAction(env, async (result, cancellationToken) =>
        {
            var options = world.Read(result, env.Time);
            var send = common.ReadSendOptions(result, OnErrorMode.Stop);
            var target = TargetResolver.Resolve(result.GetValue(common.Target), env.GetEnvironmentVariable);
            var console = env.Console;
            var client = env.CreateClient(target, new NoteToConsole(console));

            console.MarkupLineInterpolated($"waiting for the FeatureServer at {target} ...");
            var status = await WaitForAsync(env, client, TimeSpan.FromSeconds(result.GetValue(waitTimeout)), cancellationToken)
                ?? throw new CliException($"The FeatureServer at {target} did not answer GET /v1/status within {result.GetValue(waitTimeout)} s.", ExitCodes.Unreachable);
            if (result.GetValue(ifEmpty) && status.Items > 0)
            {
                console.MarkupLineInterpolated($"already seeded: the FeatureServer has {status.Items:N0} items; nothing to do.");
                return ExitCodes.Ok;
            }

            var synthetic = SyntheticWorld.Build(options);
            var generator = new WorldEventGenerator(synthetic);
            console.MarkupLineInterpolated($"seeding {target}: seed {options.Seed}, {options.Users:N0} users, {options.Items:N0} items, ~{generator.ExpectedTotal:N0} events ending {options.End:yyyy-MM-dd HH:mm:ss} UTC");
            var results = await ProgressRunner.RunAsync(env, progress =>
                GenerateCommands.SendWorldAsync(new HttpRecordSink(env.CreateClient(target, progress), send), synthetic, generator, progress, cancellationToken));
            GenerateCommands.PrintEventMix(console, generator);
            if (results.Any(r => r.Stopped))
            {
                Summary.Print(console, $"seed of {target}", results);
                return ExitCodes.Rejected;
            }

            console.MarkupLine("waiting for the stream processor to catch up ...");
            var caughtUp = Stopwatch.StartNew();
            var deadline = TimeSpan.FromSeconds(result.GetValue(catchUpTimeout));
            while (true)
            {
                status = await client.GetStatusAsync(cancellationToken);
                if (status.ProcessedPosition >= status.LogTail)
                {
                    break;
                }

                if (caughtUp.Elapsed > deadline)
                {
                    Summary.Print(console, $"seed of {target}", results);
                    throw new CliException($"The stream processor is still behind after {deadline.TotalSeconds:N0} s (processed {status.ProcessedPosition:N0} of {status.LogTail:N0}).", ExitCodes.Timeout);
                }

                await Task.Delay(env.PollInterval, env.Time, cancellationToken);
            }

            var retrievalUrl = result.GetValue(retrievalTarget) ?? env.GetEnvironmentVariable(RetrievalVariable);
            if (!string.IsNullOrWhiteSpace(retrievalUrl))
            {
                var retrieval = env.CreateClient(TargetResolver.Parse(retrievalUrl), new NoteToConsole(console));
                if (result.GetValue(latentVectors))
                {
                    var published = await VectorIndexUploader.UploadAsync(retrieval, synthetic, env.Time, env.PollInterval, cancellationToken);
                    console.MarkupLineInterpolated($"vector index at {retrievalUrl}: {published.Items:N0} item and {published.Users:N0} latent user vectors of {options.Dimensions} dimensions as embedding version {published.Version}: {published.Detail}");
                    VectorIndexUploader.ThrowIfRejected(published);
                }
                else
                {
                    // The system learns from what it was sent: the seeded events, read back through the FeatureServer's export.
                    var settings = new TrainSettings
                    {
                        Als = new AlsOptions { Dimension = options.Dimensions, Seed = (ulong)options.Seed, Alpha = 1f, Regularization = 30f },
                        Content = new ContentOptions { Seed = (ulong)options.Seed },
                        MetricsHoldout = null,
                    };
                    var folder = result.GetValue(modelDirectory)
                        ?? Path.Combine(Path.GetTempPath(), "recsys-seed-model-" + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    await TrainCommand.RunAsync(env, new FeatureServerSource(target), ExportWindowFilter.All, new InteractionOptions(), settings,
                        folder, new RetrievalIndexPublisher(retrieval, env.Time, env.PollInterval), cancellationToken);
                }
            }

            if (result.GetValue(rankersRegistry) is { } registry)
            {
                // The learned ranking stages, trained on the same events through the same command as by hand; the seeded log
                // arrived at once, so a backfill first makes its offline values known from their own times.
                string[] line = ["train-rankers", "--target", target.ToString(), "--registry", registry, "--windows", "1", "--backfill", "--dim", options.Dimensions.ToString(System.Globalization.CultureInfo.InvariantCulture)];
                var code = await TrainerCli.InvokeNestedAsync(env, line, cancellationToken);
                if (code != ExitCodes.Ok)
                {
                    throw new CliException($"train-rankers exited with code {code}; the embeddings are published, ranking stays on the fused score.", code);
                }
            }

            Summary.Print(console, $"seed of {target}", results);
            console.MarkupLineInterpolated(
                $"FeatureServer: {status.Items:N0} items, {status.EventsApplied:N0} events applied, {status.DuplicatesSkipped:N0} duplicates skipped, log position {status.ProcessedPosition:N0}/{status.LogTail:N0} (caught up in {caughtUp.Elapsed.TotalSeconds:N1} s)");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static async Task<FeatureServerStatus?> WaitForAsync(TrainerEnvironment env, FeatureServerClient client, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var waited = Stopwatch.StartNew();
        var lastNote = TimeSpan.Zero;
        while (true)
        {
            if (await client.TryGetStatusAsync(cancellationToken) is { } status)
            {
                return status;
            }

            if (waited.Elapsed >= timeout)
            {
                return null;
            }

            if (waited.Elapsed - lastNote >= TimeSpan.FromSeconds(10))
            {
                lastNote = waited.Elapsed;
                env.Console.MarkupLineInterpolated($"  still waiting ({waited.Elapsed.TotalSeconds:N0} s)");
            }

            await Task.Delay(env.PollInterval, env.Time, cancellationToken);
        }
    }

    private sealed class NoteToConsole(IAnsiConsole console) : IRunProgress
    {
        public IProgressPhase StartPhase(string name, long? expected) => NullProgress.Instance;
        public void Note(string message) => console.WriteLine(message);
    }
}
