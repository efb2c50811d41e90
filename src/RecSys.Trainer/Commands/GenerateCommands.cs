using System.CommandLine;
using System.Diagnostics;
using RecSys.Core.Contracts;
using RecSys.Trainer.Generation;
using RecSys.Trainer.Import;
using RecSys.Trainer.Ingestion;
using Spectre.Console;

namespace RecSys.Trainer.Commands;

/// <summary><c>generate</c>: a synthetic world to files or a FeatureServer; <c>ingest</c>: send a generated folder.</summary>
internal static class GenerateCommands
{
    public static Command Generate(TrainerEnvironment env)
    {
        var world = new WorldOptionSet(endDefaultsToNow: false, users: 1_000, items: 4_000, eventsPerUser: 100);
        var common = new CommonOptions();
        var output = new Option<string?>("--out") { Description = "Write items.jsonl, events.jsonl, world.json and latent.bin into this folder" };
        var command = new Command("generate", "Generate a deterministic synthetic world (users, creators, items, sessions of events).");
        world.AddTo(command);
        command.Options.Add(output);
        common.AddTo(command, withOnError: false);
        command.SetAction(env, async (result, cancellationToken) =>
        {
            var options = world.Read(result, env.Time);
            var outDir = result.GetValue(output);
            var target = result.GetValue(common.Target);
            if ((outDir is null) == (target is null))
            {
                throw new CliException("Give exactly one of --out <dir> (files) or --target <url> (a running FeatureServer).");
            }

            var send = common.ReadSendOptions(result, OnErrorMode.Stop);
            var built = Stopwatch.StartNew();
            var synthetic = SyntheticWorld.Build(options);
            built.Stop();
            var generator = new WorldEventGenerator(synthetic);
            env.Console.MarkupLineInterpolated(
                $"world: seed {options.Seed}, {options.Users:N0} users, {options.Items:N0} items, {options.Creators:N0} creators, {options.Categories} categories, {options.Start:yyyy-MM-dd HH:mm} .. {options.End:yyyy-MM-dd HH:mm} UTC (built in {built.Elapsed.TotalSeconds:N1} s)");

            var results = await ProgressRunner.RunAsync(env, async progress =>
            {
                IRecordSink sink;
                if (outDir is not null)
                {
                    Directory.CreateDirectory(outDir);
                    sink = new JsonlRecordSink(outDir);
                }
                else
                {
                    sink = new HttpRecordSink(env.CreateClient(TargetResolver.Parse(target!), progress), send);
                }

                return await SendWorldAsync(sink, synthetic, generator, progress, cancellationToken);
            });

            if (outDir is not null)
            {
                WorldFiles.WriteLatent(outDir, synthetic);
                await WorldFiles.WriteSummaryAsync(outDir, WorldFiles.Summarize(generator), cancellationToken);
            }

            PrintEventMix(env.Console, generator);
            Summary.Print(env.Console, outDir is not null ? $"generated into {outDir}" : $"sent to {target}", results);
            return Summary.ExitCode(results);
        });
        return command;
    }

    public static Command Ingest(TrainerEnvironment env)
    {
        var directory = new Argument<string>("dir") { Description = "Folder written by generate --out (items.jsonl, events.jsonl)" };
        var common = new CommonOptions();
        var command = new Command("ingest", "Send a folder of items.jsonl and events.jsonl to a FeatureServer (items first).");
        command.Arguments.Add(directory);
        common.AddTo(command);
        command.SetAction(env, async (result, cancellationToken) =>
        {
            var dir = result.GetValue(directory)!;
            if (!Directory.Exists(dir))
            {
                throw new CliException($"Folder '{dir}' does not exist.");
            }

            var itemsPath = Path.Combine(dir, JsonlRecordSink.ItemsFile);
            var eventsPath = Path.Combine(dir, JsonlRecordSink.EventsFile);
            if (!File.Exists(itemsPath) && !File.Exists(eventsPath))
            {
                throw new CliException($"'{dir}' has neither {JsonlRecordSink.ItemsFile} nor {JsonlRecordSink.EventsFile}.");
            }

            var send = common.ReadSendOptions(result);
            var target = TargetResolver.Resolve(result.GetValue(common.Target), env.GetEnvironmentVariable);
            var report = new ImportReport(send.OnError);
            var results = await ProgressRunner.RunAsync(env, async progress =>
            {
                var sink = new HttpRecordSink(env.CreateClient(target, progress), send);
                var list = new List<SendResult>();
                if (File.Exists(itemsPath))
                {
                    list.Add(await sink.SendItemsAsync(JsonlSource.Read<ItemDto>(itemsPath, report), progress.StartPhase(JsonlRecordSink.ItemsFile, null), cancellationToken));
                }

                if (File.Exists(eventsPath) && !list.Any(r => r.Stopped))
                {
                    list.Add(await sink.SendEventsAsync(JsonlSource.Read<EventDto>(eventsPath, report), progress.StartPhase(JsonlRecordSink.EventsFile, null), cancellationToken));
                }

                return list;
            });
            Summary.Print(env.Console, $"ingested {dir} into {target}", results, report);
            return Summary.ExitCode(results);
        });
        return command;
    }

    /// <summary>Items first (events refer to them), then the event stream.</summary>
    internal static async Task<IReadOnlyList<SendResult>> SendWorldAsync(
        IRecordSink sink, SyntheticWorld world, WorldEventGenerator generator, IRunProgress progress, CancellationToken cancellationToken)
    {
        var items = await sink.SendItemsAsync(world.Items(), progress.StartPhase("items", world.Options.Items), cancellationToken);
        if (items.Stopped)
        {
            return [items];
        }

        var events = await sink.SendEventsAsync(generator.GenerateDtos(), progress.StartPhase("events", generator.ExpectedTotal), cancellationToken);
        return [items, events];
    }

    internal static void PrintEventMix(IAnsiConsole console, WorldEventGenerator generator)
    {
        var parts = generator.CountsByType.Where(x => x.Value > 0).Select(x => $"{x.Key.ToString().ToLowerInvariant()} {x.Value:N0}");
        console.MarkupLineInterpolated($"events: {generator.Total:N0} ({string.Join(", ", parts)})");
    }
}
