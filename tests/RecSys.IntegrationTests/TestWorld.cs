using RecSys.Core.Contracts;

namespace RecSys.IntegrationTests;

/// <summary>
/// A small hand-made world with ids of its own (prefix <c>it-</c>) so that it cannot collide with the seeded demo data:
/// two creators in two categories, background users who give the items popularity and co-occurrence,
/// and two users with a clear taste.
/// </summary>
internal static class TestWorld
{
    public const string JazzCreator = "it-c-jazz";
    public const string RockCreator = "it-c-rock";
    public const string Jazz = "it-jazz";
    public const string Rock = "it-rock";
    public const string JazzFan = "it-u-jazzfan";
    public const string RockFan = "it-u-rockfan";

    public static readonly DateTimeOffset Now = DateTimeOffset.UtcNow.AddMinutes(-1);

    public static string JazzItem(int i) => $"it-jazz-{i:D2}";

    public static string RockItem(int i) => $"it-rock-{i:D2}";

    public static string OtherItem(int i) => $"it-other-{i:D2}";

    public static IReadOnlyList<ItemDto> Items()
    {
        var items = new List<ItemDto>();
        for (var i = 0; i < 30; i++)
        {
            items.Add(new ItemDto(JazzItem(i), JazzCreator, [Jazz], ["sax"], Now.AddDays(-30 + i), true, null));
            items.Add(new ItemDto(RockItem(i), RockCreator, [Rock], ["guitar"], Now.AddDays(-30 + i), true, null));
            items.Add(new ItemDto(OtherItem(i), $"it-c-other{i % 5}", ["it-misc"], [], Now.AddDays(-30 + i), true, null));
        }

        return items;
    }

    /// <summary>Items the jazz fan has already consumed.</summary>
    public static IReadOnlyList<string> JazzFanHistory { get; } = [.. Enumerable.Range(0, 6).Select(JazzItem)];

    /// <summary>Items the rock fan has already consumed (several creators' worth would be the same category).</summary>
    public static IReadOnlyList<string> RockFanHistory { get; } = [.. Enumerable.Range(0, 6).Select(RockItem)];

    public static IReadOnlyList<EventDto> Events()
    {
        var events = new List<EventDto>();
        var random = new Random(11);
        var t = Now.AddHours(-6);

        // Background users: each has a taste for one category and consumes items of it, so that categories, creators
        // and co-occurrence have signal; "other" items get the most raw traffic so that trending alone would not favour jazz or rock.
        for (var u = 0; u < 40; u++)
        {
            var user = $"it-u-bg{u:D2}";
            Func<int, string> pick = (u % 3) switch { 0 => JazzItem, 1 => RockItem, _ => OtherItem };
            for (var k = 0; k < 12; k++)
            {
                var item = pick(random.Next(30));
                t = t.AddSeconds(7);
                events.Add(new EventDto($"it-e-{u}-{k}", user, item, null, "click", null, t));
                events.Add(new EventDto($"it-e-{u}-{k}-o", user, OtherItem(random.Next(30)), null, "view", null, t));
            }
        }

        var n = 0;
        foreach (var item in JazzFanHistory)
        {
            t = t.AddSeconds(30);
            events.Add(new EventDto($"it-e-jf-{n++}", JazzFan, item, null, "like", null, t));
        }

        events.Add(new EventDto("it-e-jf-follow", JazzFan, null, JazzCreator, "follow", null, t));

        n = 0;
        foreach (var item in RockFanHistory)
        {
            t = t.AddSeconds(30);
            events.Add(new EventDto($"it-e-rf-{n++}", RockFan, item, null, "rating", 5, t));
        }

        return events;
    }
}
