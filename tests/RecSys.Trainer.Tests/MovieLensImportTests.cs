using System.Text.Json;
using RecSys.Core.Contracts;
using RecSys.Trainer.Import;
using RecSys.Trainer.Ingestion;

namespace RecSys.Trainer.Tests;

public sealed class MovieLensImportTests
{
    [Fact]
    public void Movies_become_items_with_genres_year_and_aggregated_tags()
    {
        var report = new ImportReport(OnErrorMode.Stop);
        var importer = new MovieLensImporter(Fixtures.Path("movielens"), report);
        var items = importer.ReadItems().ToDictionary(i => i.Id!);

        Assert.Equal(4, items.Count);
        var toy = items["m1"];
        Assert.Equal("Toy Story (1995)", toy.Title);
        Assert.Null(toy.CreatorId);
        Assert.Equal(["Adventure", "Animation", "Children", "Comedy", "Fantasy"], toy.Categories);
        Assert.Equal(new DateTimeOffset(1995, 1, 1, 0, 0, 0, TimeSpan.Zero), toy.CreatedAt);
        Assert.Equal(["pixar", "fun, for kids"], toy.Tags);

        Assert.Equal("American President, The (1995)", items["m2"].Title);
        Assert.Equal(["politics drama"], items["m2"].Tags);

        var strange = items["m3"];
        Assert.Equal("Dr. \"Strange\" Love", strange.Title);
        Assert.Empty(strange.Categories!);
        Assert.Equal(DateTimeOffset.UnixEpoch, strange.CreatedAt);

        var noir = items["m4"];
        Assert.Equal(["Film-Noir", "Sci-Fi"], noir.Categories);
        Assert.Equal(2006, noir.CreatedAt!.Value.Year);
    }

    [Fact]
    public void Ratings_become_rating_events_with_deterministic_ids()
    {
        var report = new ImportReport(OnErrorMode.Stop);
        var importer = new MovieLensImporter(Fixtures.Path("movielens"), report);
        _ = importer.ReadItems();
        var events = importer.ReadRatings().ToList();

        Assert.Equal(4, events.Count);
        var first = events[0];
        Assert.Equal("ml-1-1-964982703", first.EventId);
        Assert.Equal("u1", first.UserId);
        Assert.Equal("m1", first.ItemId);
        Assert.Equal("rating", first.Type);
        Assert.Equal(4.0, first.Value);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(964982703), first.EventTime);
        Assert.Equal(0.5, events[3].Value);
        Assert.Equal(0, report.Skipped);
    }

    [Fact]
    public void Limit_caps_the_number_of_ratings()
    {
        var importer = new MovieLensImporter(Fixtures.Path("movielens"), new ImportReport(OnErrorMode.Skip), limit: 2);
        _ = importer.ReadItems();
        Assert.Equal(2, importer.ReadRatings().Count());
    }

    [Fact]
    public async Task Bad_rows_are_skipped_and_reported_with_file_and_line()
    {
        using var output = new TempDir();
        var cli = new CliHarness();
        var code = await cli.RunAsync("import", "movielens", Fixtures.Path("movielens-bad"), "--out", output.Path);

        Assert.Equal(0, code);
        Assert.Contains("ratings.csv:3: rating 7.5 is outside 0.5..5", cli.Output);
        Assert.Contains("ratings.csv:4: expected 4 columns", cli.Output);
        Assert.Contains("ratings.csv:5: movieId 'x' is not a number", cli.Output);
        Assert.Contains("ratings.csv:6: movie 99 is not in movies.csv", cli.Output);
        Assert.Contains("4 skipped", cli.Output);

        var events = (await File.ReadAllLinesAsync(output.File("events.jsonl")))
            .Select(l => JsonSerializer.Deserialize<EventDto>(l, JsonDefaults.Options)!)
            .ToList();
        Assert.Equal(["ml-1-1-964982703", "ml-3-4-1445715000"], events.Select(e => e.EventId));
        Assert.Equal(4, (await File.ReadAllLinesAsync(output.File("items.jsonl"))).Length);
    }

    [Fact]
    public async Task Stop_mode_exits_non_zero_at_the_first_bad_row()
    {
        using var output = new TempDir();
        var cli = new CliHarness();
        var code = await cli.RunAsync("import", "movielens", Fixtures.Path("movielens-bad"), "--out", output.Path, "--on-error", "stop");

        Assert.Equal(1, code);
        Assert.Contains("ratings.csv:3: rating 7.5 is outside 0.5..5", cli.Output);
        Assert.DoesNotContain("ratings.csv:4", cli.Output);
    }

    [Fact]
    public async Task Missing_folder_or_file_is_a_clear_error()
    {
        var cli = new CliHarness();
        Assert.Equal(1, await cli.RunAsync("import", "movielens", "/nonexistent/ml", "--out", "/tmp/unused"));
        Assert.Contains("does not exist", cli.Output);

        using var empty = new TempDir();
        var cli2 = new CliHarness();
        Assert.Equal(1, await cli2.RunAsync("import", "movielens", empty.Path, "--out", empty.File("out")));
        Assert.Contains("has no movies.csv", cli2.Output);
    }

    [Fact]
    public async Task Bad_option_values_are_refused()
    {
        var cli = new CliHarness();
        Assert.NotEqual(0, await cli.RunAsync("import", "movielens", Fixtures.Path("movielens"), "--on-error", "ignore"));
        var cli2 = new CliHarness();
        Assert.Equal(1, await cli2.RunAsync("import", "movielens", Fixtures.Path("movielens"), "--batch-size", "20000"));
        Assert.Contains("--batch-size", cli2.Output);
    }

    [Theory]
    [InlineData("Heat (1995)", 1995)]
    [InlineData("Babylon 5", 1970)]
    [InlineData("Fawlty Towers (1975-1979)", 1975)]
    [InlineData("Something (1999) ", 1999)]
    public void Year_of_title(string title, int year) => Assert.Equal(year, MovieLensImporter.YearOf(title).Year);

    [Theory]
    [InlineData("Sci-Fi", "Sci-Fi")]
    [InlineData("Film/Noir", "Film-Noir")]
    [InlineData("  IMAX ", "IMAX")]
    [InlineData("a|b", "a-b")]
    [InlineData("///", null)]
    public void Category_normalization(string raw, string? expected) => Assert.Equal(expected, Normalization.Category(raw));
}
