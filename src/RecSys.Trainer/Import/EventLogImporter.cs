using System.Globalization;
using RecSys.Core.Contracts;
using RecSys.Core.Domain;
using RecSys.Trainer.Commands;

namespace RecSys.Trainer.Import;

/// <summary>How the columns of an interaction log map onto events. Columns are header names or 0-based indexes.</summary>
public sealed record EventLogMapping
{
    /// <summary>Null: from the extension (.tsv/.tab: tab, .psv: '|'), else the most frequent of , \t ; | on the first line.</summary>
    public char? Delimiter { get; init; }
    public bool HasHeader { get; init; } = true;
    public required string User { get; init; }
    public required string Item { get; init; }
    public string? Type { get; init; }

    /// <summary>A rating column: its value becomes the event value and the type is <c>rating</c> (unless <see cref="Type"/> is mapped).</summary>
    public string? Rating { get; init; }
    public EventType? DefaultType { get; init; }
    public required string Time { get; init; }

    /// <summary><c>unix</c> (seconds, fractions allowed), <c>unix-ms</c>, <c>iso</c> or a .NET custom format; times without an offset are UTC.</summary>
    public string TimeFormat { get; init; } = "unix";
    public string? EventId { get; init; }
    public string? Value { get; init; }
    public string UserPrefix { get; init; } = "";
    public string ItemPrefix { get; init; } = "";
}

/// <summary>
/// Imports any CSV/TSV interaction log. Ids with characters the API refuses are mapped deterministically
/// (<see cref="Normalization.MapId"/>); without an event id column the id is a hash of the row's user, item, type,
/// time and value, so importing the same log twice is harmless. For <c>follow</c> rows the item column names the creator.
/// </summary>
public sealed class EventLogImporter
{
    private static readonly char[] Candidates = [',', '\t', ';', '|'];

    private readonly string _path;
    private readonly string _file;
    private readonly EventLogMapping _mapping;
    private readonly ImportReport _report;

    public EventLogImporter(string path, EventLogMapping mapping, ImportReport report)
    {
        if (!File.Exists(path))
        {
            throw new CliException(Directory.Exists(path) ? $"'{path}' is a folder; give the log file." : $"File '{path}' does not exist.");
        }

        if (mapping.Type is null && mapping.Rating is null && mapping.DefaultType is null)
        {
            throw new CliException("Say how to get the event type: --type <col>, --rating <col> or --default-type <type>.");
        }

        if (mapping.Rating is not null && mapping.Value is not null)
        {
            throw new CliException("--rating and --value both set the event value; give only one.");
        }

        if (mapping.TimeFormat is not ("unix" or "unix-ms" or "iso"))
        {
            try
            {
                _ = DateTimeOffset.UnixEpoch.ToString(mapping.TimeFormat, CultureInfo.InvariantCulture);
            }
            catch (FormatException)
            {
                throw new CliException($"--time-format '{mapping.TimeFormat}' is neither unix, unix-ms, iso nor a valid .NET date format.");
            }
        }

        _path = path;
        _file = Path.GetFileName(path);
        _mapping = mapping;
        _report = report;
        Delimiter = mapping.Delimiter ?? DetectDelimiter(path);
    }

    public char Delimiter { get; }

    public static char DetectDelimiter(string path)
    {
        var extension = Path.GetExtension(path).ToLowerInvariant();
        if (extension is ".tsv" or ".tab")
        {
            return '\t';
        }

        if (extension == ".psv")
        {
            return '|';
        }

        using var reader = new StreamReader(path);
        var first = reader.ReadLine() ?? "";
        var best = ',';
        var bestCount = 0;
        foreach (var candidate in Candidates)
        {
            var count = 0;
            var quoted = false;
            foreach (var c in first)
            {
                if (c == '"')
                {
                    quoted = !quoted;
                }
                else if (c == candidate && !quoted)
                {
                    count++;
                }
            }

            if (count > bestCount)
            {
                best = candidate;
                bestCount = count;
            }
        }

        return best;
    }

    /// <summary>
    /// Events of the log, streamed. Column names are resolved against the header before the first row is returned,
    /// so an unknown column fails the import at once.
    /// </summary>
    public IEnumerable<EventDto> Read()
    {
        var csv = CsvReader.Open(_path, Delimiter);
        var records = csv.ReadAll().GetEnumerator();
        Columns columns;
        int expected;
        try
        {
            IReadOnlyList<string>? header = null;
            if (_mapping.HasHeader)
            {
                if (!records.MoveNext())
                {
                    throw new CliException($"{_file} is empty.");
                }

                header = records.Current.Fields.Select(x => x.Trim().TrimStart('\uFEFF')).ToList();
            }

            columns = new Columns(
                Resolve(header, _mapping.User, "--user")!.Value,
                Resolve(header, _mapping.Item, "--item")!.Value,
                Resolve(header, _mapping.Type, "--type"),
                Resolve(header, _mapping.Rating, "--rating"),
                Resolve(header, _mapping.Time, "--time")!.Value,
                Resolve(header, _mapping.EventId, "--event-id"),
                Resolve(header, _mapping.Value, "--value"));
            expected = header?.Count ?? -1;
        }
        catch
        {
            records.Dispose();
            csv.Dispose();
            throw;
        }

        return ReadRecords(csv, records, columns, expected);
    }

    private IEnumerable<EventDto> ReadRecords(CsvReader csv, IEnumerator<CsvRecord> records, Columns columns, int expected)
    {
        using var _ = csv;
        using var __ = records;
        var needed = columns.Max + 1;
        while (records.MoveNext())
        {
            var record = records.Current;
            _report.RowRead();
            if (record.Error is not null)
            {
                _report.Reject(new RowError(_file, record.Line, record.Error));
                continue;
            }

            if (expected >= 0 && record.Fields.Count != expected)
            {
                _report.Reject(new RowError(_file, record.Line, $"expected {expected} columns, found {record.Fields.Count}"));
                continue;
            }

            if (record.Fields.Count < needed)
            {
                _report.Reject(new RowError(_file, record.Line, $"expected at least {needed} columns, found {record.Fields.Count}"));
                continue;
            }

            var (dto, error) = Convert(record.Fields, columns);
            if (dto is null)
            {
                _report.Reject(new RowError(_file, record.Line, error!));
                continue;
            }

            yield return dto;
        }
    }

    private (EventDto? Event, string? Error) Convert(IReadOnlyList<string> f, Columns c)
    {
        var userId = Normalization.MapId(_mapping.UserPrefix, f[c.User]);
        if (userId is null)
        {
            return (null, "user is empty");
        }

        var targetId = Normalization.MapId(_mapping.ItemPrefix, f[c.Item]);
        if (targetId is null)
        {
            return (null, "item is empty");
        }

        EventType type;
        if (c.Type is { } typeColumn && !string.IsNullOrWhiteSpace(f[typeColumn]))
        {
            if (!EventTypes.TryParse(f[typeColumn].Trim(), out type))
            {
                return (null, $"unknown event type '{f[typeColumn]}' (expected impression, view, click, like, rating, purchase or follow)");
            }
        }
        else if (c.Type is null && c.Rating is not null)
        {
            type = EventType.Rating;
        }
        else if (_mapping.DefaultType is { } fallback)
        {
            type = fallback;
        }
        else
        {
            return (null, "event type is empty and no --default-type was given");
        }

        double? value = null;
        if ((c.Rating ?? c.Value) is { } valueColumn && !string.IsNullOrWhiteSpace(f[valueColumn]))
        {
            if (!double.TryParse(f[valueColumn].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var number) || !double.IsFinite(number))
            {
                return (null, $"{(c.Rating is null ? "value" : "rating")} '{f[valueColumn]}' is not a number");
            }

            value = number;
        }
        else if (c.Rating is not null && c.Type is null)
        {
            return (null, "rating is empty");
        }

        if (!TryParseTime(f[c.Time].Trim(), out var time))
        {
            return (null, $"time '{f[c.Time]}' does not match --time-format {_mapping.TimeFormat}");
        }

        if (time.Year is < 1970 or > 2100)
        {
            return (null, $"time '{f[c.Time]}' is outside 1970..2100");
        }

        string eventId;
        if (c.EventId is { } idColumn)
        {
            if (Normalization.MapId("", f[idColumn]) is not { } mapped)
            {
                return (null, "event id is empty");
            }

            eventId = mapped;
        }
        else
        {
            var key = string.Create(CultureInfo.InvariantCulture, $"{userId}|{targetId}|{type}|{time.UtcTicks}|{value}");
            eventId = $"ev-{Normalization.Fnv1a64(key):x16}";
        }

        var follow = type == EventType.Follow;
        return (new EventDto(eventId, userId, follow ? null : targetId, follow ? targetId : null, type.WireName(), value, time), null);
    }

    private bool TryParseTime(string text, out DateTimeOffset time)
    {
        time = default;
        const DateTimeStyles styles = DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal;
        switch (_mapping.TimeFormat)
        {
            case "unix":
                if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && Math.Abs(seconds) < 1e11)
                {
                    time = DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Round(seconds * 1000));
                    return true;
                }

                return false;
            case "unix-ms":
                if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var ms) && Math.Abs(ms) < 100_000_000_000_000)
                {
                    time = DateTimeOffset.FromUnixTimeMilliseconds(ms);
                    return true;
                }

                return false;
            case "iso":
                return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, styles, out time);
            default:
                return DateTimeOffset.TryParseExact(text, _mapping.TimeFormat, CultureInfo.InvariantCulture, styles, out time);
        }
    }

    private int? Resolve(IReadOnlyList<string>? header, string? column, string option)
    {
        if (column is null)
        {
            return null;
        }

        if (header is not null)
        {
            for (var i = 0; i < header.Count; i++)
            {
                if (header[i].Equals(column.Trim(), StringComparison.OrdinalIgnoreCase))
                {
                    return i;
                }
            }

            if (int.TryParse(column, NumberStyles.None, CultureInfo.InvariantCulture, out var index) && index < header.Count)
            {
                return index;
            }

            throw new CliException($"{option} '{column}': {_file} has no such column; its columns are: {string.Join(", ", header)}.");
        }

        if (int.TryParse(column, NumberStyles.None, CultureInfo.InvariantCulture, out var position))
        {
            return position;
        }

        throw new CliException($"{option} '{column}': with --no-header, columns are 0-based indexes.");
    }

    private sealed record Columns(int User, int Item, int? Type, int? Rating, int Time, int? EventId, int? Value)
    {
        public int Max => new[] { User, Item, Type ?? 0, Rating ?? 0, Time, EventId ?? 0, Value ?? 0 }.Max();
    }
}
