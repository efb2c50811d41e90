using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using RecSys.Core.Contracts;
using RecSys.Trainer.Commands;
using RecSys.Trainer.Ingestion;
using Spectre.Console;

namespace RecSys.Trainer.Training;

/// <summary>Where training events and items come from: a running FeatureServer's export, or files.</summary>
public abstract record TrainingSource
{
    public abstract string Describe();
}

/// <summary><c>GET /v1/export/items</c> and <c>/v1/export/events</c> of a FeatureServer.</summary>
public sealed record FeatureServerSource(Uri Target) : TrainingSource
{
    public override string Describe() => $"FeatureServer {Target}";
}

/// <summary>An NDJSON file of events (and optionally one of items), or a folder of <c>events.jsonl</c> and <c>items.jsonl</c>.</summary>
public sealed record FileSource(string EventsPath, string? ItemsPath) : TrainingSource
{
    public override string Describe() => ItemsPath is null ? EventsPath : $"{EventsPath} + {ItemsPath}";
}

/// <summary>The input options of <c>train</c> and <c>evaluate</c>.</summary>
internal sealed class TrainingInputOptions
{
    public Option<string?> Events { get; } = new("--events")
    {
        Description = "Events NDJSON (the FeatureServer export, or events.jsonl), or a folder written by generate/import --out",
    };

    public Option<string?> Items { get; } = new("--items") { Description = "Items NDJSON for content embeddings (default: items.jsonl next to --events)" };

    public Option<string?> Target { get; } = new("--target")
    {
        Description = $"FeatureServer to pull the events from (default when --events is not given: ${TargetResolver.HttpVariable}, then {TargetResolver.DefaultTarget})",
    };

    public Option<string?> From { get; } = new("--from") { Description = "Only events at or after this time (ISO 8601)" };

    public Option<string?> Until { get; } = new("--until") { Description = "Only events before this time (ISO 8601)" };

    public Option<double> HalfLifeDays { get; } = new("--half-life-days")
    {
        Description = "Recency: an event this many days older than the latest counts half (0: no decay)",
        DefaultValueFactory = _ => 0,
    };

    public Option<string> Positives { get; } = CreatePositives();

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Events, Items, Target, From, Until, HalfLifeDays, Positives })
        {
            command.Options.Add(option);
        }
    }

    public TrainingSource ReadSource(ParseResult result, TrainerEnvironment env)
    {
        var events = result.GetValue(Events);
        var target = result.GetValue(Target);
        if (events is not null && target is not null)
        {
            throw new CliException("Give either --events <file|folder> or --target <url>, not both.");
        }

        if (events is null)
        {
            return new FeatureServerSource(TargetResolver.Resolve(target, env.GetEnvironmentVariable));
        }

        string eventsPath;
        var itemsPath = result.GetValue(Items);
        if (Directory.Exists(events))
        {
            eventsPath = Path.Combine(events, JsonlRecordSink.EventsFile);
            var sibling = Path.Combine(events, JsonlRecordSink.ItemsFile);
            itemsPath ??= File.Exists(sibling) ? sibling : null;
        }
        else
        {
            eventsPath = events;
        }

        if (!File.Exists(eventsPath))
        {
            throw new CliException($"Events file '{eventsPath}' does not exist.");
        }

        if (itemsPath is not null && !File.Exists(itemsPath))
        {
            throw new CliException($"Items file '{itemsPath}' does not exist.");
        }

        return new FileSource(eventsPath, itemsPath);
    }

    public ExportWindowFilter ReadWindow(ParseResult result)
    {
        var from = ParseTime(result.GetValue(From), "--from");
        var until = ParseTime(result.GetValue(Until), "--until");
        if (from is { } f && until is { } u && f >= u)
        {
            throw new CliException("--from must be before --until.");
        }

        return new ExportWindowFilter(from, until);
    }

    public InteractionOptions ReadInteractionOptions(ParseResult result)
    {
        var days = result.GetValue(HalfLifeDays);
        if (!double.IsFinite(days) || days < 0)
        {
            throw new CliException("--half-life-days must be 0 (off) or a positive number of days.");
        }

        return new InteractionOptions
        {
            HalfLife = days == 0 ? TimeSpan.Zero : TimeSpan.FromDays(days),
            Positives = result.GetValue(Positives) == "engaged" ? PositiveRule.Engaged : PositiveRule.Seen,
        };
    }

    private static DateTimeOffset? ParseTime(string? text, string name)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time)
            ? time
            : throw new CliException($"{name} '{text}' is not a date and time (ISO 8601, e.g. 2026-11-01T00:00:00Z).");
    }

    private static Option<string> CreatePositives()
    {
        var option = new Option<string>("--positives")
        {
            Description = "Which events are interactions: seen (all but impressions and follows) or engaged (engagement weight > 0)",
            DefaultValueFactory = _ => "seen",
        };
        option.AcceptOnlyFromAmong("seen", "engaged");
        return option;
    }
}

/// <summary>Streams the DTOs of a <see cref="TrainingSource"/>, line by line.</summary>
internal static class TrainingReader
{
    public static IAsyncEnumerable<EventDto> Events(TrainingSource source, ExportWindowFilter window, TrainerEnvironment env, CancellationToken cancellationToken) =>
        source switch
        {
            FileSource file => ReadFileAsync<EventDto>(file.EventsPath, cancellationToken),
            FeatureServerSource server => ReadExportAsync<EventDto>(env, server.Target, "/v1/export/events" + window.ToQuery(), cancellationToken),
            _ => throw new ArgumentOutOfRangeException(nameof(source)),
        };

    public static IAsyncEnumerable<ItemDto>? Items(TrainingSource source, TrainerEnvironment env, CancellationToken cancellationToken) =>
        source switch
        {
            FileSource { ItemsPath: { } path } => ReadFileAsync<ItemDto>(path, cancellationToken),
            FileSource => null,
            FeatureServerSource server => ReadExportAsync<ItemDto>(env, server.Target, "/v1/export/items", cancellationToken),
            _ => throw new ArgumentOutOfRangeException(nameof(source)),
        };

    private static async IAsyncEnumerable<T> ReadFileAsync<T>(string path, [EnumeratorCancellation] CancellationToken cancellationToken)
        where T : class
    {
        using var reader = new StreamReader(path);
        await foreach (var record in ReadLinesAsync<T>(reader, path, cancellationToken))
        {
            yield return record;
        }
    }

    private static async IAsyncEnumerable<T> ReadExportAsync<T>(TrainerEnvironment env, Uri target, string path, [EnumeratorCancellation] CancellationToken cancellationToken)
        where T : class
    {
        using var http = env.CreateHttpClient(target, Timeout.InfiniteTimeSpan);
        var url = new Uri(target, path);
        HttpResponseMessage? response = null;
        for (var attempt = 1; response is null; attempt++)
        {
            try
            {
                response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
                if ((int)response.StatusCode >= 500 && attempt < env.Retry.MaxAttempts)
                {
                    response.Dispose();
                    response = null;
                }
            }
            catch (HttpRequestException ex) when (attempt < env.Retry.MaxAttempts)
            {
                env.Console.WriteLine($"GET {url}: {ex.Message}; retry {attempt}/{env.Retry.MaxAttempts - 1}");
            }
            catch (HttpRequestException ex)
            {
                throw new CliException($"GET {url} failed after {attempt} attempts: {ex.Message}", ExitCodes.Unreachable);
            }

            if (response is null)
            {
                await Task.Delay(env.Retry.BaseDelay * attempt, env.Time, cancellationToken);
            }
        }

        using (response)
        {
            if (response.StatusCode != HttpStatusCode.OK)
            {
                var text = await response.Content.ReadAsStringAsync(cancellationToken);
                throw new CliException($"GET {url} answered HTTP {(int)response.StatusCode} {response.ReasonPhrase}: {(text.Length > 300 ? text[..300] + "..." : text)}", ExitCodes.Rejected);
            }

            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            using var reader = new StreamReader(stream);
            await foreach (var record in ReadLinesAsync<T>(reader, url.ToString(), cancellationToken))
            {
                yield return record;
            }
        }
    }

    private static async IAsyncEnumerable<T> ReadLinesAsync<T>(StreamReader reader, string name, [EnumeratorCancellation] CancellationToken cancellationToken)
        where T : class
    {
        long line = 0;
        while (await reader.ReadLineAsync(cancellationToken) is { } text)
        {
            line++;
            if (string.IsNullOrWhiteSpace(text))
            {
                continue;
            }

            var record = JsonlSource.ParseLine<T>(text, out var error);
            yield return record ?? throw new CliException(error == "null"
                ? $"{name}, line {line}: null instead of a record."
                : $"{name}, line {line}: not a valid {typeof(T).Name.Replace("Dto", "", StringComparison.Ordinal).ToLowerInvariant()} ({error})");
        }
    }
}
