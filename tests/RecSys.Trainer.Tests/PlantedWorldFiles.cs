using System.Text.Json;
using RecSys.Core.Contracts;

namespace RecSys.Trainer.Tests;

/// <summary>
/// A small world with planted tastes written as items.jsonl and events.jsonl: item i belongs to topic i % Topics (its
/// category, a tag and a title word say so), user u loves topic u % Topics and draws 85 % of its events from it, popular
/// items of the topic more often. Cold items (in the catalogue, never interacted with) carry the same content signals.
/// </summary>
internal sealed class PlantedWorldFiles
{
    public const int Topics = 5;
    public static readonly DateTimeOffset Start = new(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);

    public PlantedWorldFiles(string directory, int users = 200, int items = 300, int coldItems = 40, int eventsPerUser = 30, int seed = 7)
    {
        Directory = directory;
        Users = users;
        Items = items;
        ColdItems = coldItems;
        var random = new Random(seed);
        var itemLines = new List<string>();
        for (var i = 0; i < items + coldItems; i++)
        {
            var id = i < items ? ItemId(i) : ColdItemId(i - items);
            var topic = i % Topics;
            itemLines.Add(JsonSerializer.Serialize(
                new ItemDto(id, $"creator{i % 17}", [$"category{topic}"], [$"tag{topic}", $"mood{random.Next(3)}"], Start.AddDays(-30), true, $"A story about topicword{topic} number {i}"),
                JsonDefaults.Options));
        }

        var eventLines = new List<string>();
        var types = new[] { "view", "click", "like" };
        var perTopic = items / Topics;
        var n = 0;
        for (var u = 0; u < users; u++)
        {
            for (var e = 0; e < eventsPerUser; e++)
            {
                int item;
                if (random.NextDouble() < 0.85)
                {
                    var rank = Math.Min(perTopic - 1, (int)(perTopic * Math.Pow(random.NextDouble(), 1.5)));
                    item = (u % Topics) + (rank * Topics);
                }
                else
                {
                    item = random.Next(items);
                }

                var time = Start.AddMinutes((e * 600) + u);
                eventLines.Add(JsonSerializer.Serialize(new EventDto($"ev{n++}", UserId(u), ItemId(item), null, types[random.Next(types.Length)], null, time), JsonDefaults.Options));
            }

            // An impression (not an interaction) and a duplicate of the user's first event (deduplicated by id).
            eventLines.Add(JsonSerializer.Serialize(new EventDto($"imp{u}", UserId(u), ItemId(random.Next(items)), null, "impression", null, Start.AddMinutes(u)), JsonDefaults.Options));
            eventLines.Add(eventLines[^(eventsPerUser + 1)]);
        }

        ItemLines = itemLines;
        EventLines = eventLines;
        File.WriteAllLines(ItemsPath, itemLines);
        File.WriteAllLines(EventsPath, eventLines);
    }

    public string Directory { get; }

    public int Users { get; }

    public int Items { get; }

    public int ColdItems { get; }

    public IReadOnlyList<string> ItemLines { get; }

    public IReadOnlyList<string> EventLines { get; }

    public string ItemsPath => Path.Combine(Directory, "items.jsonl");

    public string EventsPath => Path.Combine(Directory, "events.jsonl");

    public static string ItemId(int i) => $"item{i}";

    public static string ColdItemId(int i) => $"cold{i}";

    public static string UserId(int u) => $"user{u}";

    /// <summary>The topic of an item id written by this world (warm or cold).</summary>
    public int TopicOf(string id) =>
        id.StartsWith("cold", StringComparison.Ordinal)
            ? (Items + int.Parse(id[4..], System.Globalization.CultureInfo.InvariantCulture)) % Topics
            : int.Parse(id[4..], System.Globalization.CultureInfo.InvariantCulture) % Topics;
}
