using System.Text.Json;
using RecSys.Core.Contracts;
using RecSys.Core.Domain;
using RecSys.Trainer.Import;

namespace RecSys.Trainer.Tests;

public sealed class EventLogImportTests
{
    private static async Task<(int Code, string Output, List<EventDto> Events)> ImportAsync(TempDir dir, string file, params string[] options)
    {
        var output = dir.File("out");
        var cli = new CliHarness();
        var code = await cli.RunAsync(["import", "events", file, "--out", output, .. options]);
        var path = Path.Combine(output, "events.jsonl");
        var events = File.Exists(path)
            ? (await File.ReadAllLinesAsync(path)).Select(l => JsonSerializer.Deserialize<EventDto>(l, JsonDefaults.Options)!).ToList()
            : [];
        return (code, cli.Output, events);
    }

    [Fact]
    public async Task Csv_with_header_type_column_and_unix_times()
    {
        using var dir = new TempDir();
        var file = dir.Write("log.csv", "who,what,kind,ts,amount\nalice,book-1,click,1700000000,\nbob,book-2,Purchase,1700000001.5,12.5\n");
        var (code, _, events) = await ImportAsync(dir, file, "--user", "who", "--item", "what", "--type", "kind", "--time", "ts", "--value", "amount", "--id-prefix-user", "x-");

        Assert.Equal(0, code);
        Assert.Equal(2, events.Count);
        Assert.Equal("x-alice", events[0].UserId);
        Assert.Equal("book-1", events[0].ItemId);
        Assert.Equal("click", events[0].Type);
        Assert.Null(events[0].Value);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1700000000), events[0].EventTime);
        Assert.Equal("purchase", events[1].Type);
        Assert.Equal(12.5, events[1].Value);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1700000001500), events[1].EventTime);
        Assert.All(events, e => Assert.StartsWith("ev-", e.EventId));
    }

    [Fact]
    public async Task Tsv_without_header_with_rating_column_and_iso_times()
    {
        using var dir = new TempDir();
        var file = dir.Write("ratings.tsv", "7\t42\t4.5\t2024-03-01T10:00:00Z\n8\t43\t2\t2024-03-01 11:30:00\n");
        var (code, _, events) = await ImportAsync(dir, file, "--no-header", "--user", "0", "--item", "1", "--rating", "2", "--time", "3", "--time-format", "iso", "--id-prefix-user", "u", "--id-prefix-item", "i");

        Assert.Equal(0, code);
        Assert.Equal(2, events.Count);
        Assert.Equal(("u7", "i42", "rating", 4.5), (events[0].UserId, events[0].ItemId, events[0].Type, events[0].Value));
        Assert.Equal(new DateTimeOffset(2024, 3, 1, 10, 0, 0, TimeSpan.Zero), events[0].EventTime);
        Assert.Equal(new DateTimeOffset(2024, 3, 1, 11, 30, 0, TimeSpan.Zero), events[1].EventTime);
    }

    [Fact]
    public async Task Semicolon_is_detected_and_custom_time_format_and_default_type_apply()
    {
        using var dir = new TempDir();
        var file = dir.Write("log.txt", "user;item;when\nann;song 1;01/02/2024 13:05\nann;song 1;01/02/2024 13:06\n");
        var (code, _, events) = await ImportAsync(dir, file, "--user", "user", "--item", "item", "--time", "when", "--time-format", "dd/MM/yyyy HH:mm", "--default-type", "view");

        Assert.Equal(0, code);
        Assert.Equal(2, events.Count);
        Assert.All(events, e => Assert.Equal("view", e.Type));
        Assert.Equal(new DateTimeOffset(2024, 2, 1, 13, 5, 0, TimeSpan.Zero), events[0].EventTime);

        // "song 1" has a space: mapped deterministically to a valid id with a hash of the original.
        Assert.True(EntityIds.IsValid(events[0].ItemId), events[0].ItemId);
        Assert.StartsWith("song_1-", events[0].ItemId);
        Assert.Equal(events[0].ItemId, events[1].ItemId);
        Assert.NotEqual(events[0].EventId, events[1].EventId);
    }

    [Fact]
    public async Task Event_id_column_and_follow_rows()
    {
        using var dir = new TempDir();
        var file = dir.Write("log.csv", "id,u,target,type,t\nE1,ann,creator9,follow,1700000000\nE2,ann,item3,like,1700000005\n");
        var (code, _, events) = await ImportAsync(dir, file, "--user", "u", "--item", "target", "--type", "type", "--time", "t", "--event-id", "id");

        Assert.Equal(0, code);
        Assert.Equal(("E1", null, "creator9", "follow"), (events[0].EventId, events[0].ItemId, events[0].CreatorId, events[0].Type));
        Assert.Equal(("E2", "item3", "like"), (events[1].EventId, events[1].ItemId, events[1].Type));
    }

    [Fact]
    public async Task Bad_rows_are_reported_with_line_numbers_and_skipped_or_stop()
    {
        using var dir = new TempDir();
        var file = dir.Write("log.csv", "u,i,type,t\nann,a,click,1700000000\nann,b,dance,1700000000\nann,c,click\nann,d,click,yesterday\nann,e,view,1700000009\n");
        var (code, output, events) = await ImportAsync(dir, file, "--user", "u", "--item", "i", "--type", "type", "--time", "t");

        Assert.Equal(0, code);
        Assert.Equal(["a", "e"], events.Select(e => e.ItemId));
        Assert.Contains("log.csv:3: unknown event type 'dance'", output);
        Assert.Contains("log.csv:4: expected 4 columns, found 3", output);
        Assert.Contains("log.csv:5: time 'yesterday' does not match --time-format unix", output);

        var (stopCode, stopOutput, _) = await ImportAsync(dir, file, "--user", "u", "--item", "i", "--type", "type", "--time", "t", "--on-error", "stop");
        Assert.Equal(1, stopCode);
        Assert.Contains("log.csv:3: unknown event type 'dance'", stopOutput);
    }

    [Fact]
    public async Task Unknown_column_missing_file_and_missing_type_are_clear_errors()
    {
        using var dir = new TempDir();
        var file = dir.Write("log.csv", "u,i,t\nann,a,1700000000\n");

        var (code, output, _) = await ImportAsync(dir, file, "--user", "user_id", "--item", "i", "--time", "t", "--default-type", "click");
        Assert.Equal(1, code);
        Assert.Contains("--user 'user_id'", output);
        Assert.Contains("its columns are: u, i, t", output);

        (code, output, _) = await ImportAsync(dir, dir.File("missing.csv"), "--user", "u", "--item", "i", "--time", "t", "--default-type", "click");
        Assert.Equal(1, code);
        Assert.Contains("does not exist", output);

        (code, output, _) = await ImportAsync(dir, file, "--user", "u", "--item", "i", "--time", "t");
        Assert.Equal(1, code);
        Assert.Contains("--default-type", output);

        (code, output, _) = await ImportAsync(dir, file, "--user", "u", "--item", "i", "--time", "t", "--default-type", "click", "--delimiter", "x");
        Assert.Equal(1, code);
        Assert.Contains("--delimiter", output);
    }

    [Theory]
    [InlineData("alice", "", "alice")]
    [InlineData("42", "u", "u42")]
    [InlineData("john doe", "", "john_doe-")]
    [InlineData("a/b", "", "a_b-")]
    public void Id_mapping(string raw, string prefix, string expectedStart)
    {
        var id = Normalization.MapId(prefix, raw);
        Assert.True(EntityIds.IsValid(id), id);
        Assert.StartsWith(expectedStart, id);
        Assert.Equal(id, Normalization.MapId(prefix, raw));
    }

    [Fact]
    public void Mapped_ids_do_not_collide_and_long_ids_fit()
    {
        Assert.NotEqual(Normalization.MapId("", "a b"), Normalization.MapId("", "a/b"));
        var longId = Normalization.MapId("", new string('x', 100));
        Assert.True(EntityIds.IsValid(longId), longId);
        Assert.Null(Normalization.MapId("", "  "));
    }

    [Theory]
    [InlineData("log.tsv", "a,b\tc", '\t')]
    [InlineData("log.csv", "a;b;c", ';')]
    [InlineData("log.csv", "a|b|c", '|')]
    [InlineData("log.csv", "\"x;y\",b,c", ',')]
    public void Delimiter_detection(string name, string firstLine, char expected)
    {
        using var dir = new TempDir();
        Assert.Equal(expected, EventLogImporter.DetectDelimiter(dir.Write(name, firstLine + "\n")));
    }
}
