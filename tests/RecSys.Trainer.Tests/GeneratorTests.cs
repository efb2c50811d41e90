using RecSys.Core.Domain;
using RecSys.Trainer.Generation;

namespace RecSys.Trainer.Tests;

public sealed class GeneratorTests
{
    private static readonly WorldOptions Small = new()
    {
        Seed = 7,
        Users = 1_500,
        Items = 5_000,
        Creators = 250,
        Categories = 20,
        Days = 14,
        EventsPerUser = 60,
    };

    private static readonly Lazy<(SyntheticWorld World, WorldEventGenerator Generator, List<GeneratedEvent> Events)> SmallWorld = new(() =>
    {
        var world = SyntheticWorld.Build(Small);
        var generator = new WorldEventGenerator(world);
        return (world, generator, generator.Generate().ToList());
    });

    [Fact]
    public async Task Same_seed_gives_byte_identical_files_and_another_seed_differs()
    {
        using var a = new TempDir();
        using var b = new TempDir();
        using var c = new TempDir();
        string[] sizes = ["--users", "300", "--items", "800", "--days", "5", "--events-per-user", "40"];
        Assert.Equal(0, await new CliHarness().RunAsync(["generate", "--out", a.Path, "--seed", "11", .. sizes]));
        Assert.Equal(0, await new CliHarness().RunAsync(["generate", "--out", b.Path, "--seed", "11", .. sizes]));
        Assert.Equal(0, await new CliHarness().RunAsync(["generate", "--out", c.Path, "--seed", "12", .. sizes]));

        foreach (var file in new[] { "items.jsonl", "events.jsonl", "world.json", "latent.bin" })
        {
            var first = await File.ReadAllBytesAsync(a.File(file));
            Assert.True(first.Length > 0, file);
            Assert.Equal(first, await File.ReadAllBytesAsync(b.File(file)));
        }

        Assert.NotEqual(await File.ReadAllBytesAsync(a.File("events.jsonl")), await File.ReadAllBytesAsync(c.File("events.jsonl")));
        Assert.NotEqual(await File.ReadAllBytesAsync(a.File("items.jsonl")), await File.ReadAllBytesAsync(c.File("items.jsonl")));
    }

    [Fact]
    public void Popularity_is_heavy_tailed()
    {
        var (world, _, events) = SmallWorld.Value;
        var perItem = new long[world.Options.Items];
        foreach (var e in events.Where(e => e.Type != EventType.Follow))
        {
            perItem[e.Target]++;
        }

        Array.Sort(perItem);
        Array.Reverse(perItem);
        var total = perItem.Sum();
        var topShare = (double)perItem.Take(world.Options.Items / 100).Sum() / total;

        // Uniform popularity would give the top 1% of items 1% of the events.
        Assert.True(topShare > 0.15, $"top 1% of items got {topShare:P1} of events");
    }

    [Fact]
    public void Clicks_are_more_likely_for_items_aligned_with_the_user()
    {
        var (world, _, events) = SmallWorld.Value;
        var clicked = events.Where(e => e.Type == EventType.Click).Select(e => (e.User, e.Day, e.Target)).ToHashSet();
        var impressions = events.Where(e => e.Type == EventType.Impression)
            .Select(e => (Affinity: world.Affinity(e.User, e.Target), Clicked: clicked.Contains((e.User, e.Day, e.Target))))
            .OrderBy(x => x.Affinity)
            .ToList();
        var quarter = impressions.Count / 4;
        var lowCtr = impressions.Take(quarter).Average(x => x.Clicked ? 1.0 : 0.0);
        var highCtr = impressions.Skip(impressions.Count - quarter).Average(x => x.Clicked ? 1.0 : 0.0);
        Assert.True(highCtr > 2 * lowCtr, $"CTR of the most aligned quarter {highCtr:P1}, least aligned {lowCtr:P1}");
    }

    [Fact]
    public void All_ids_and_names_are_valid_and_times_are_within_the_period()
    {
        var (world, generator, events) = SmallWorld.Value;
        foreach (var item in world.Items())
        {
            Assert.True(EntityIds.IsValid(item.Id), item.Id);
            Assert.True(EntityIds.IsValid(item.CreatorId), item.CreatorId);
            Assert.InRange(item.Categories!.Count, 1, 3);
            Assert.All(item.Categories.Concat(item.Tags!), name => Assert.True(name.Length is > 0 and <= 64 && !name.Contains('|'), name));
            Assert.True(item.CreatedAt < world.Options.End);
        }

        var start = world.Options.Start;
        var end = world.Options.End;
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var e in events)
        {
            var dto = generator.ToDto(e);
            Assert.True(EntityIds.IsValid(dto.EventId), dto.EventId);
            Assert.True(ids.Add(dto.EventId!), $"duplicate event id {dto.EventId}");
            Assert.True(EntityIds.IsValid(dto.UserId), dto.UserId);
            Assert.True(dto.Type == "follow" ? EntityIds.IsValid(dto.CreatorId) && dto.ItemId is null : EntityIds.IsValid(dto.ItemId), dto.EventId);
            Assert.True(EventTypes.TryParse(dto.Type, out _), dto.Type);
            Assert.InRange(dto.EventTime!.Value, start, end.AddTicks(-1));
            if (dto.Type != "follow")
            {
                Assert.True(world.ItemCreatedTicks[e.Target] <= e.Ticks, "an event precedes the creation of its item");
            }

            if (dto.Type == "rating")
            {
                Assert.InRange(dto.Value!.Value, 0.5, 5.0);
            }
        }
    }

    [Fact]
    public void Events_are_in_time_order_and_per_user_counts_are_heavy_tailed()
    {
        var (world, _, events) = SmallWorld.Value;
        for (var i = 1; i < events.Count; i++)
        {
            Assert.True(events[i - 1].Ticks <= events[i].Ticks);
        }

        var perUser = events.GroupBy(e => e.User).Select(g => g.Count()).OrderDescending().ToList();
        var mean = perUser.Average();
        Assert.True(perUser[0] > 5 * mean, $"most active user {perUser[0]} vs mean {mean:N0}");
        Assert.InRange(events.Count, world.Options.Users * world.Options.EventsPerUser * 0.6, world.Options.Users * world.Options.EventsPerUser * 1.6);
    }

    [Fact]
    public void Users_follow_creators_of_their_favourite_categories()
    {
        var (world, _, events) = SmallWorld.Value;
        var d = world.Options.Dimensions;
        var aligned = 0;
        var follows = events.Where(e => e.Type == EventType.Follow).ToList();
        Assert.NotEmpty(follows);
        foreach (var f in follows)
        {
            var centroid = world.CategoryCentroids.AsSpan(world.CreatorPrimary[f.Target] * d, d);
            if (SyntheticWorld.Dot(world.UserVector(f.User), centroid) > 0)
            {
                aligned++;
            }
        }

        Assert.True(aligned > follows.Count * 0.8, $"{aligned} of {follows.Count} follows are of creators in a category the user likes");
    }

    [Fact]
    public void Scale_smoke_50k_items_by_5k_users()
    {
        var world = SyntheticWorld.Build(new WorldOptions { Seed = 3, Users = 5_000, Items = 50_000, Creators = 2_500, EventsPerUser = 20, Days = 30 });
        var generator = new WorldEventGenerator(world);
        var count = generator.GenerateDtos().LongCount();
        Assert.Equal(50_000, world.Items().Count());
        Assert.Equal(generator.Total, count);
        Assert.InRange(count, 50_000, 200_000);
    }

    [Fact]
    public void Invalid_options_are_refused_with_a_message()
    {
        var errors = new WorldOptions { Users = 0, Creators = 10, Items = 5 }.Validate();
        Assert.Contains(errors, e => e.Contains("--users"));
        Assert.Contains(errors, e => e.Contains("--creators"));
    }

    [Fact]
    public async Task Generate_without_destination_or_with_bad_sizes_exits_non_zero()
    {
        var cli = new CliHarness();
        Assert.Equal(1, await cli.RunAsync("generate"));
        Assert.Contains("--out", cli.Output);

        var bad = new CliHarness();
        using var dir = new TempDir();
        Assert.Equal(1, await bad.RunAsync("generate", "--out", dir.Path, "--users", "0"));
        Assert.Contains("--users must be", bad.Output);

        var end = new CliHarness();
        Assert.Equal(1, await end.RunAsync("generate", "--out", dir.Path, "--end", "yesterday-ish"));
        Assert.Contains("--end", end.Output);
    }
}
