using RecSys.Core.Domain;
using RecSys.FeatureStore.EventLog;

namespace RecSys.TestSupport;

/// <summary>Builders of event-log records (items, interaction events) for the feature store tests.</summary>
public static class TestData
{
    public static readonly DateTimeOffset T0 = new(2026, 11, 1, 12, 0, 0, TimeSpan.Zero);

    public static ItemUpsertRecord Item(string id, string? creator, string[] categories, DateTimeOffset? created = null, bool available = true, string? title = null) =>
        new(new CatalogItem(id, creator, categories, ["t1"], created ?? T0, available, title));

    public static EventRecord Event(string id, string user, string? item, EventType type, DateTimeOffset time, double? value = null, string? creator = null) =>
        new(new InteractionEvent(id, user, item, creator, type, value, time));

    public static List<LogEntry> Entries(IEnumerable<LogRecord> records)
    {
        var list = new List<LogEntry>();
        var position = 0L;
        foreach (var record in records)
        {
            list.Add(new LogEntry(position, position + 1, record));
            position++;
        }

        return list;
    }

    /// <summary>A random, reproducible stream: items first, then events (with follows and repeated ids).</summary>
    public static List<LogRecord> RandomStream(int seed, int items, int users, int events)
    {
        var random = new Random(seed);
        var categories = new[] { "news", "music", "sport", "film", "tech" };
        var records = new List<LogRecord>();
        for (var i = 0; i < items; i++)
        {
            var cats = categories.Where(_ => random.NextDouble() < 0.4).ToArray();
            records.Add(Item($"i{i}", random.NextDouble() < 0.8 ? $"c{random.Next(5)}" : null, cats, T0.AddHours(-random.Next(100)), random.NextDouble() < 0.9));
        }

        var types = Enum.GetValues<EventType>();
        for (var e = 0; e < events; e++)
        {
            var type = types[random.Next(types.Length)];
            var time = T0.AddMinutes(random.Next(10_000));
            var user = $"u{random.Next(users)}";
            records.Add(type == EventType.Follow
                ? Event($"e{e}", user, null, type, time, creator: $"c{random.Next(5)}")
                : Event($"e{e}", user, $"i{random.Next(items)}", type, time, type == EventType.Rating ? random.Next(1, 6) : null));
        }

        return records;
    }
}
