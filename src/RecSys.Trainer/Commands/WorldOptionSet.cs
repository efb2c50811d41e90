using System.CommandLine;
using System.Globalization;
using RecSys.Trainer.Generation;

namespace RecSys.Trainer.Commands;

/// <summary>The options describing a synthetic world, shared by <c>generate</c> and <c>seed</c>.</summary>
internal sealed class WorldOptionSet
{
    private readonly bool _endDefaultsToNow;

    public WorldOptionSet(bool endDefaultsToNow, int users, int items, double eventsPerUser)
    {
        _endDefaultsToNow = endDefaultsToNow;
        Users = new("--users") { Description = "Number of users", DefaultValueFactory = _ => users };
        Items = new("--items") { Description = "Number of items", DefaultValueFactory = _ => items };
        EventsPerUser = new("--events-per-user")
        {
            Description = "Mean events per user, impressions included (the per-user count is heavy-tailed)",
            DefaultValueFactory = _ => eventsPerUser,
        };
        End = new("--end")
        {
            Description = endDefaultsToNow
                ? "End of event time: ISO 8601 or 'now' (default: now)"
                : $"End of event time: ISO 8601 or 'now' (default: {WorldOptions.DefaultEnd:yyyy-MM-dd}, fixed so output is reproducible)",
        };
    }

    public Option<long> Seed { get; } = new("--seed") { Description = "Random seed: same seed and sizes give byte-identical output", DefaultValueFactory = _ => 42 };
    public Option<int> Users { get; }
    public Option<int> Items { get; }
    public Option<int?> Creators { get; } = new("--creators") { Description = "Number of creators (default: items / 20)" };
    public Option<int> Categories { get; } = new("--categories") { Description = "Number of categories", DefaultValueFactory = _ => 20 };
    public Option<int> Days { get; } = new("--days") { Description = "Length of the event period in days", DefaultValueFactory = _ => 30 };
    public Option<string?> End { get; }
    public Option<double> EventsPerUser { get; }
    public Option<int> Dimensions { get; } = new("--dimensions") { Description = "Dimensions of the latent taste vectors", DefaultValueFactory = _ => 16 };
    public Option<double> Zipf { get; } = new("--zipf") { Description = "Zipf exponent of item popularity", DefaultValueFactory = _ => 1.0 };

    public void AddTo(Command command)
    {
        command.Options.Add(Seed);
        command.Options.Add(Users);
        command.Options.Add(Items);
        command.Options.Add(Creators);
        command.Options.Add(Categories);
        command.Options.Add(Days);
        command.Options.Add(End);
        command.Options.Add(EventsPerUser);
        command.Options.Add(Dimensions);
        command.Options.Add(Zipf);
    }

    public WorldOptions Read(ParseResult result, TimeProvider time)
    {
        var items = result.GetValue(Items);
        var options = new WorldOptions
        {
            Seed = result.GetValue(Seed),
            Users = result.GetValue(Users),
            Items = items,
            Creators = result.GetValue(Creators) ?? Math.Max(1, items / 20),
            Categories = result.GetValue(Categories),
            Days = result.GetValue(Days),
            End = ParseEnd(result.GetValue(End), time),
            EventsPerUser = result.GetValue(EventsPerUser),
            Dimensions = result.GetValue(Dimensions),
            ZipfExponent = result.GetValue(Zipf),
        };
        var errors = options.Validate();
        return errors.Count > 0 ? throw new CliException(string.Join(" ", errors)) : options;
    }

    private DateTimeOffset ParseEnd(string? text, TimeProvider time)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return _endDefaultsToNow ? Truncate(time.GetUtcNow()) : WorldOptions.DefaultEnd;
        }

        if (text.Equals("now", StringComparison.OrdinalIgnoreCase))
        {
            return Truncate(time.GetUtcNow());
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var end)
            ? end
            : throw new CliException($"--end '{text}' is not a date (use ISO 8601, e.g. 2026-01-01T00:00:00Z, or 'now').");
    }

    private static DateTimeOffset Truncate(DateTimeOffset t) => new(t.UtcTicks - (t.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
}
