using System.Text.Json;
using RecSys.Core.Contracts;
using RecSys.Trainer.Commands;
using RecSys.Trainer.Evaluation;

namespace RecSys.Trainer.Tests;

public sealed class CtrReportTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);
    private readonly string _root = Path.Combine(Path.GetTempPath(), "recsys-ctr-tests", Guid.NewGuid().ToString("N"));

    public CtrReportTests() => Directory.CreateDirectory(_root);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>
    /// v1 served two lists of three items, v2 one list of two. v1's lists got: a click on a shown item, the same click sent
    /// twice, a click on an item the list did not show; v2's list one click. Plus a click with no request id and a click on
    /// a request nobody logged, and an impression without a version.
    /// </summary>
    private static IEnumerable<EventDto> Log()
    {
        EventDto Shown(string request, string version, string item, int minute) =>
            new($"{request}:{item}", "u", item, null, "impression", null, T0.AddMinutes(minute)) { RequestId = request, ModelVersion = version };
        EventDto Click(string id, string? request, string item, int minute) =>
            new(id, "u", item, null, "click", null, T0.AddMinutes(minute)) { RequestId = request };

        // The click on r1 is logged before r1's impressions (impressions are sent asynchronously).
        yield return Click("c1", "r1", "a", 0);
        foreach (var item in new[] { "a", "b", "c" })
        {
            yield return Shown("r1", "v1", item, 1);
            yield return Shown("r2", "v1", item, 2);
            yield return Shown("r3", "v2", item == "c" ? "a" : item, 3);
        }

        yield return Click("c1-again", "r1", "a", 4);
        yield return Click("c2", "r2", "z", 4);
        yield return Click("c3", "r3", "b", 5);
        yield return Click("c4", null, "a", 5);
        yield return Click("c5", "r-unknown", "a", 5);
        yield return new EventDto("i-bare", "u", "a", null, "impression", null, T0);
        yield return new EventDto("v1", "u", "a", null, "view", null, T0);
    }

    [Fact]
    public void Clicks_join_impressions_by_request_id_once_per_shown_item()
    {
        var report = new CtrReport();
        foreach (var e in Log())
        {
            report.Add(e);
        }

        var result = report.Build();

        Assert.Equal(["v1", "v2"], result.Versions.Select(v => v.Version));
        var v1 = result.Versions[0];
        Assert.Equal((2L, 6L, 1L, 1L), (v1.Requests, v1.Impressions, v1.Clicks, v1.ClickedRequests));
        Assert.Equal(1.0 / 6, v1.Ctr, 12);
        Assert.Equal(0.5, v1.RequestCtr, 12);
        Assert.Equal(T0.AddMinutes(1), v1.FirstServed);
        Assert.Equal(T0.AddMinutes(2), v1.LastServed);
        var v2 = result.Versions[1];
        // r3 showed "a" twice ("c" was replaced by "a"): two distinct items.
        Assert.Equal((1L, 2L, 1L), (v2.Requests, v2.Impressions, v2.Clicks));
        Assert.Equal(0.5, v2.Ctr, 12);
        Assert.True(v1.CtrLower < v1.Ctr && v1.Ctr < v1.CtrUpper);
        Assert.Equal(2, result.UnattributedClicks);
        Assert.Equal(1, result.ClicksWithoutRequestId);
        Assert.Equal(1, result.ImpressionsWithoutVersion);
        Assert.Equal(Log().Count(), result.EventsRead);
    }

    [Fact]
    public void The_interval_is_the_95_percent_wilson_interval()
    {
        var report = new CtrReport();
        for (var i = 0; i < 100; i++)
        {
            report.Add(new EventDto($"s{i}", "u", $"i{i}", null, "impression", null, T0) { RequestId = "r", ModelVersion = "v" });
        }

        for (var i = 0; i < 10; i++)
        {
            report.Add(new EventDto($"c{i}", "u", $"i{i}", null, "click", null, T0) { RequestId = "r" });
        }

        var v = Assert.Single(report.Build().Versions);
        // Wilson interval for 10 / 100 at z = 1.96: (0.0552, 0.1744).
        Assert.Equal(0.0552, v.CtrLower, 4);
        Assert.Equal(0.1744, v.CtrUpper, 4);
    }

    [Fact]
    public async Task The_command_reads_an_exported_log_and_writes_the_table_and_json()
    {
        var events = Path.Combine(_root, "events.jsonl");
        await File.WriteAllLinesAsync(events, Log().Select(e => JsonSerializer.Serialize(e, JsonDefaults.Options)));
        var json = Path.Combine(_root, "ctr.json");
        var cli = new CliHarness();

        var exit = await cli.RunAsync("ctr", "--events", events, "--json", json);

        Assert.Equal(ExitCodes.Ok, exit);
        Assert.True(cli.Output.Contains("16.67 %", StringComparison.Ordinal), cli.Output);
        Assert.Contains("50.00 %", cli.Output, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        Assert.Equal(2, doc.RootElement.GetProperty("versions").GetArrayLength());
    }

    [Fact]
    public async Task Bad_options_exit_with_a_message()
    {
        var cli = new CliHarness();

        Assert.Equal(ExitCodes.InputError, await cli.RunAsync("ctr", "--events", Path.Combine(_root, "missing.jsonl")));
        Assert.Contains("does not exist", cli.Output, StringComparison.Ordinal);
        Assert.NotEqual(ExitCodes.Ok, await new CliHarness().RunAsync("ctr", "--events", _root, "--from", "yesterday"));
    }
}
