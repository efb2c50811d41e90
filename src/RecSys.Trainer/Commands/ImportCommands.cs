using System.CommandLine;
using RecSys.Core.Contracts;
using RecSys.Core.Domain;
using RecSys.Trainer.Import;
using RecSys.Trainer.Ingestion;

namespace RecSys.Trainer.Commands;

/// <summary><c>import movielens</c> and <c>import events</c>: foreign data sets into the ingestion API (or JSONL files).</summary>
internal static class ImportCommands
{
    public static Command Create(TrainerEnvironment env)
    {
        var command = new Command("import", "Import an external data set.");
        command.Subcommands.Add(MovieLens(env));
        command.Subcommands.Add(Events(env));
        return command;
    }

    private static Command MovieLens(TrainerEnvironment env)
    {
        var directory = new Argument<string>("dir") { Description = "Folder in the ml-latest-small layout (movies.csv, ratings.csv, tags.csv)" };
        var limit = new Option<long?>("--limit") { Description = "Import at most this many ratings" };
        var output = OutOption();
        var common = new CommonOptions();
        var command = new Command("movielens", "Import MovieLens: movies as items (genres, tags), ratings as rating events.");
        command.Arguments.Add(directory);
        command.Options.Add(limit);
        command.Options.Add(output);
        common.AddTo(command);
        command.SetAction(env, async (result, cancellationToken) =>
        {
            var dir = result.GetValue(directory)!;
            MovieLensImporter.CheckLayout(dir);
            if (result.GetValue(limit) is < 0)
            {
                throw new CliException("--limit must be 0 or more.");
            }

            var send = common.ReadSendOptions(result);
            var report = new ImportReport(send.OnError);
            var importer = new MovieLensImporter(dir, report, result.GetValue(limit));
            return await RunAsync(env, result, common, output, send, report, $"MovieLens {dir}", importer.ReadItems, importer.ReadRatings, cancellationToken);
        });
        return command;
    }

    private static Command Events(TrainerEnvironment env)
    {
        var file = new Argument<string>("file") { Description = "CSV/TSV interaction log" };
        var delimiter = new Option<string?>("--delimiter") { Description = "Field delimiter: ',' '\\t' (or 'tab') ';' '|' (default: from the extension or the first line)" };
        var noHeader = new Option<bool>("--no-header") { Description = "The first line is data; columns are 0-based indexes" };
        var user = new Option<string>("--user") { Description = "User id column (name or 0-based index)", Required = true };
        var item = new Option<string>("--item") { Description = "Item id column (for follow rows: the creator)", Required = true };
        var type = new Option<string?>("--type") { Description = "Event type column (impression|view|click|like|rating|purchase|follow)" };
        var rating = new Option<string?>("--rating") { Description = "Rating column: the value of a rating event" };
        var defaultType = new Option<string?>("--default-type") { Description = "Type of rows without a type column or with an empty type" };
        defaultType.AcceptOnlyFromAmong(Enum.GetValues<EventType>().Select(t => t.WireName()).ToArray());
        var time = new Option<string>("--time") { Description = "Event time column", Required = true };
        var timeFormat = new Option<string>("--time-format")
        {
            Description = "unix (seconds), unix-ms, iso, or a .NET custom format such as 'yyyy-MM-dd HH:mm:ss' (UTC unless an offset is given)",
            DefaultValueFactory = _ => "unix",
        };
        var eventId = new Option<string?>("--event-id") { Description = "Event id column (default: a hash of user, item, type, time and value)" };
        var value = new Option<string?>("--value") { Description = "Event value column" };
        var userPrefix = new Option<string>("--id-prefix-user") { Description = "Prefix added to user ids", DefaultValueFactory = _ => "" };
        var itemPrefix = new Option<string>("--id-prefix-item") { Description = "Prefix added to item ids", DefaultValueFactory = _ => "" };
        var output = OutOption();
        var common = new CommonOptions();

        var command = new Command("events", "Import an interaction log (CSV/TSV) with a column mapping.");
        command.Arguments.Add(file);
        foreach (var option in new Option[] { delimiter, noHeader, user, item, type, rating, defaultType, time, timeFormat, eventId, value, userPrefix, itemPrefix, output })
        {
            command.Options.Add(option);
        }

        common.AddTo(command);
        command.SetAction(env, async (result, cancellationToken) =>
        {
            var path = result.GetValue(file)!;
            var send = common.ReadSendOptions(result);
            var report = new ImportReport(send.OnError);
            var mapping = new EventLogMapping
            {
                Delimiter = ParseDelimiter(result.GetValue(delimiter)),
                HasHeader = !result.GetValue(noHeader),
                User = result.GetValue(user)!,
                Item = result.GetValue(item)!,
                Type = result.GetValue(type),
                Rating = result.GetValue(rating),
                DefaultType = result.GetValue(defaultType) is { } t && EventTypes.TryParse(t, out var parsed) ? parsed : null,
                Time = result.GetValue(time)!,
                TimeFormat = result.GetValue(timeFormat)!,
                EventId = result.GetValue(eventId),
                Value = result.GetValue(value),
                UserPrefix = result.GetValue(userPrefix) ?? "",
                ItemPrefix = result.GetValue(itemPrefix) ?? "",
            };
            var importer = new EventLogImporter(path, mapping, report);

            // Resolve the columns now, so that an unknown column fails before anything is sent.
            var events = importer.Read();
            return await RunAsync(env, result, common, output, send, report, $"log {path}", null, () => events, cancellationToken);
        });
        return command;
    }

    private static Option<string?> OutOption() =>
        new("--out") { Description = "Write items.jsonl/events.jsonl into this folder instead of sending to a FeatureServer" };

    private static char? ParseDelimiter(string? text) => text switch
    {
        null or "" => null,
        "\\t" or "tab" or "\t" => '\t',
        "," or ";" or "|" => text[0],
        _ => throw new CliException($"--delimiter '{text}' is not one of ',' '\\t' ';' '|'."),
    };

    private static async Task<int> RunAsync(
        TrainerEnvironment env,
        ParseResult result,
        CommonOptions common,
        Option<string?> output,
        SendOptions send,
        ImportReport report,
        string source,
        Func<IReadOnlyList<ItemDto>>? readItems,
        Func<IEnumerable<EventDto>> readEvents,
        CancellationToken cancellationToken)
    {
        var outDir = result.GetValue(output);
        var targetOption = result.GetValue(common.Target);
        if (outDir is not null && targetOption is not null)
        {
            throw new CliException("Give either --out <dir> or --target <url>, not both.");
        }

        Uri? target = outDir is null ? TargetResolver.Resolve(targetOption, env.GetEnvironmentVariable) : null;
        var results = await ProgressRunner.RunAsync(env, async progress =>
        {
            IRecordSink sink = outDir is not null
                ? new JsonlRecordSink(Directory.CreateDirectory(outDir).FullName)
                : new HttpRecordSink(env.CreateClient(target!, progress), send);
            var list = new List<SendResult>();
            if (readItems is not null)
            {
                var phase = progress.StartPhase("items", null);
                var items = readItems();
                list.Add(await sink.SendItemsAsync(items, phase, cancellationToken));
                if (list[^1].Stopped)
                {
                    return list;
                }
            }

            list.Add(await sink.SendEventsAsync(readEvents(), progress.StartPhase("events", null), cancellationToken));
            return list;
        });
        Summary.Print(env.Console, $"{source} -> {(object?)target ?? outDir}", results, report);
        return Summary.ExitCode(results);
    }
}
