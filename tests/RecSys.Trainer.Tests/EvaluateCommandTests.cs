using System.Net;
using System.Text.Json;
using System.Xml.Linq;
using RecSys.Core.Contracts;
using RecSys.Trainer.Commands;
using RecSys.Trainer.Evaluation;

namespace RecSys.Trainer.Tests;

public sealed class EvaluateCommandTests
{
    [Fact]
    public void Shifting_to_now_moves_every_timed_event_by_one_whole_number_of_days()
    {
        var now = new DateTimeOffset(2026, 12, 2, 13, 0, 0, 250, TimeSpan.Zero);
        var first = new DateTimeOffset(2001, 5, 1, 10, 0, 0, TimeSpan.Zero);
        var last = new DateTimeOffset(2018, 9, 24, 14, 27, 30, TimeSpan.Zero);
        EventDto[] events = [new("e1", "u1", "m1", null, "rating", 4, last), new("e2", "u1", "m2", null, "rating", 3, first), new("e3", "u2", "m1", null, "view", null, null)];

        var (shifted, shift) = EvaluateCommand.ShiftedToNow(events, now);

        Assert.Equal(TimeSpan.FromDays(Math.Floor((now - last).TotalDays)), shift);
        Assert.Equal(0, shift.Ticks % TimeSpan.TicksPerDay);
        Assert.Equal(last.TimeOfDay, shifted[0].EventTime!.Value.TimeOfDay);           // the same time of day: day buckets hold the same events
        Assert.InRange(now - shifted[0].EventTime!.Value, TimeSpan.Zero, TimeSpan.FromDays(1));
        Assert.Equal(last - first, shifted[0].EventTime - shifted[1].EventTime);
        Assert.Null(shifted[2].EventTime);
        Assert.Equal(events.Select(e => e.EventId), shifted.Select(e => e.EventId));
    }

    private static readonly string[] Fast = ["--dim", "16", "--epochs", "6", "--lambda", "5", "--ease-items", "300"];

    [Fact]
    public async Task Writes_markdown_json_and_plots_with_sane_numbers_and_ALS_beats_most_popular()
    {
        using var temp = new TempDir();
        _ = new PlantedWorldFiles(temp.Path);
        var output = temp.File("report");
        var cli = new CliHarness();

        var code = await cli.RunAsync(["evaluate", "--events", temp.Path, "--out", output, .. Fast]);

        Assert.True(code == ExitCodes.Ok, cli.Output);
        var run = EvaluationOutput.FromJson(File.ReadAllText(System.IO.Path.Combine(output, EvaluationOutput.JsonFile)));
        Assert.Equal(2, run.Reports.Count);
        Assert.Equal("temporal", run.Reports[0].Split);
        Assert.StartsWith("random", run.Reports[1].Split, StringComparison.Ordinal);
        foreach (var report in run.Reports)
        {
            Assert.Equal(["most-popular", "item-knn", "ease", "als"], report.Recommenders.Select(r => r.Name.Split('(')[0]));
            Assert.True(report.TestInteractions > 0);
            foreach (var recommender in report.Recommenders)
            {
                Assert.Equal(50, recommender.Curve.Count);
                Assert.All(recommender.Curve, m =>
                {
                    foreach (var value in new[] { m.Ndcg, m.Precision, m.Recall, m.Map, m.HitRate, m.Coverage })
                    {
                        Assert.InRange(value, 0, 1);
                    }
                });

                // Recall, hit rate and coverage can only grow with k.
                for (var k = 1; k < 50; k++)
                {
                    Assert.True(recommender.Curve[k].Recall >= recommender.Curve[k - 1].Recall);
                    Assert.True(recommender.Curve[k].HitRate >= recommender.Curve[k - 1].HitRate);
                    Assert.True(recommender.Curve[k].Coverage >= recommender.Curve[k - 1].Coverage);
                }
            }

            var popular = report.Recommenders[0].At(10).Ndcg;
            var als = report.Recommenders[3].At(10).Ndcg;
            Assert.True(als > 1.5 * popular, $"{report.Split}: ALS nDCG@10 {als:F3} vs most-popular {popular:F3}");
        }

        var markdown = File.ReadAllText(System.IO.Path.Combine(output, EvaluationOutput.MarkdownFile));
        Assert.Contains("| recommender | nDCG@10 | precision@10 | recall@10 | MAP@10 | hit rate@10 | coverage@10 |", markdown, StringComparison.Ordinal);
        Assert.Contains("nDCG@20", markdown, StringComparison.Ordinal);
        Assert.Contains("![nDCG against k](temporal-ndcg.svg)", markdown, StringComparison.Ordinal);
        foreach (var split in new[] { "temporal", "random-seed-1" })
        {
            foreach (var (metric, _, _) in EvaluationOutput.Metrics)
            {
                var svg = XDocument.Load(System.IO.Path.Combine(output, $"{split}-{metric}.svg"));
                Assert.Equal(4, svg.Descendants(XName.Get("polyline", "http://www.w3.org/2000/svg")).Count());
            }
        }
    }

    [Theory]
    [InlineData("--holdout", "1.5")]
    [InlineData("--max-k", "5")]
    [InlineData("--split", "sideways")]
    [InlineData("--ease-items", "0")]
    [InlineData("--dim", "0")]
    public async Task Bad_options_exit_non_zero(string option, string value)
    {
        using var temp = new TempDir();
        _ = new PlantedWorldFiles(temp.Path, users: 10, items: 20);
        var cli = new CliHarness();

        var code = await cli.RunAsync("evaluate", "--events", temp.Path, "--out", temp.File("r"), option, value);

        Assert.NotEqual(0, code);
        Assert.False(File.Exists(System.IO.Path.Combine(temp.File("r"), EvaluationOutput.JsonFile)));
    }

    [Fact]
    public async Task End_to_end_needs_its_services()
    {
        using var temp = new TempDir();
        _ = new PlantedWorldFiles(temp.Path, users: 10, items: 20);

        var noRanking = new CliHarness();
        Assert.Equal(ExitCodes.InputError, await noRanking.RunAsync("evaluate", "--events", temp.Path, "--out", temp.File("r"), "--e2e", "--featureserver", "http://fs.test"));
        Assert.Contains("--ranking", noRanking.Output, StringComparison.Ordinal);

        var stray = new CliHarness();
        Assert.Equal(ExitCodes.InputError, await stray.RunAsync("evaluate", "--events", temp.Path, "--out", temp.File("r"), "--ranking", "http://r.test"));
        Assert.Contains("are for --e2e", stray.Output, StringComparison.Ordinal);
    }

    /// <summary>
    /// A whole system in fakes: the FeatureServer stores what it receives and exports it back, Retrieval takes the vectors,
    /// Ranking serves for each user the five items of the user's planted topic it has seen most often in training events.
    /// </summary>
    [Fact]
    public async Task End_to_end_imports_the_training_part_trains_publishes_and_scores_the_served_lists()
    {
        using var temp = new TempDir();
        var world = new PlantedWorldFiles(temp.Path, users: 60, items: 100, coldItems: 0);
        var receivedEvents = new List<EventDto>();
        var receivedItems = new List<ItemDto>();
        var published = 0;
        var handler = new FakeHandler((request, body, _) =>
        {
            var uri = request.RequestUri!;
            switch (uri.Host, uri.AbsolutePath)
            {
                case ("fs.test", "/v1/items"):
                    var items = JsonSerializer.Deserialize<ItemBatchRequest>(body, JsonDefaults.Options)!.Items!;
                    lock (receivedItems)
                    {
                        receivedItems.AddRange(items!);
                    }

                    return FakeHandler.Json(HttpStatusCode.OK, $$"""{"upserted":{{items.Count}},"rejected":0,"errors":[]}""");
                case ("fs.test", "/v1/events"):
                    var events = JsonSerializer.Deserialize<EventBatchRequest>(body, JsonDefaults.Options)!.Events!;
                    lock (receivedEvents)
                    {
                        receivedEvents.AddRange(events!);
                    }

                    return FakeHandler.Json(HttpStatusCode.OK, $$"""{"accepted":{{events.Count}},"rejected":0,"errors":[],"logPosition":1}""");
                case ("fs.test", "/v1/status"):
                    return FakeHandler.Json(HttpStatusCode.OK, JsonSerializer.Serialize(new FeatureServerStatus(receivedItems.Count, 10, 10, receivedEvents.Count, 0), JsonDefaults.Options));
                case ("fs.test", "/v1/export/events"):
                    return FakeHandler.Json(HttpStatusCode.OK, string.Join('\n', receivedEvents.Select(e => JsonSerializer.Serialize(e, JsonDefaults.Options))), "application/x-ndjson");
                case ("fs.test", "/v1/export/items"):
                    return FakeHandler.Json(HttpStatusCode.OK, string.Join('\n', receivedItems.Select(i => JsonSerializer.Serialize(i, JsonDefaults.Options))), "application/x-ndjson");
                case ("retrieval.test", _) when request.Method == HttpMethod.Get:
                    // The embedding version's activation, polled after the publish.
                    return FakeHandler.Json(HttpStatusCode.OK, """{"activation":{"state":"activated","recall":1.0,"minRecall":0.95,"items":100}}""");
                case ("retrieval.test", _):
                    Interlocked.Increment(ref published);
                    return FakeHandler.Json(HttpStatusCode.OK, "{}");
                case ("ranking.test", _):
                    var user = Uri.UnescapeDataString(uri.AbsolutePath.Split('/')[^1]);
                    var topic = int.Parse(user[4..], System.Globalization.CultureInfo.InvariantCulture) % PlantedWorldFiles.Topics;
                    List<RankedItem> ranked;
                    lock (receivedEvents)
                    {
                        var seen = receivedEvents.Where(e => e.UserId == user).Select(e => e.ItemId).ToHashSet();
                        ranked = receivedEvents.Where(e => world.TopicOf(e.ItemId!) == topic && !seen.Contains(e.ItemId))
                            .GroupBy(e => e.ItemId!).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
                            .Take(20).Select(g => new RankedItem(g.Key, g.Count(), ["test"])).ToList();
                    }

                    var response = new RecommendationResponse(user, ranked, new RecommendationMetadata("r", "test", [], new Dictionary<string, double>(), ranked.Count));
                    return FakeHandler.Json(HttpStatusCode.OK, JsonSerializer.Serialize(response, JsonDefaults.Options));
                default:
                    return FakeHandler.Json(HttpStatusCode.NotFound, "{}");
            }
        });
        var cli = new CliHarness(handler);

        var code = await cli.RunAsync(["evaluate", "--events", temp.Path, "--out", temp.File("r"), "--split", "temporal", "--e2e",
            "--featureserver", "http://fs.test", "--ranking", "http://ranking.test", "--retrieval", "http://retrieval.test", .. Fast]);

        Assert.True(code == ExitCodes.Ok, cli.Output);
        var run = EvaluationOutput.FromJson(File.ReadAllText(System.IO.Path.Combine(temp.File("r"), EvaluationOutput.JsonFile)));
        var report = Assert.Single(run.Reports);
        var served = report.Recommenders[^1];
        Assert.StartsWith("end-to-end /v1/recommendations", served.Name, StringComparison.Ordinal);
        Assert.Equal(20, served.Curve.Count);
        Assert.True(served.At(10).Ndcg > report.Recommenders[0].At(10).Ndcg, cli.Output);

        // Only the training part went in: the held-out interactions never reached the system.
        Assert.Equal(world.Items, receivedItems.Count);
        Assert.True(receivedEvents.Count < world.Users * 30, $"{receivedEvents.Count} events imported");
        Assert.True(receivedEvents.Count > world.Users * 30 * 0.7, $"{receivedEvents.Count} events imported");
        Assert.True(published > 0);
        Assert.True(File.Exists(System.IO.Path.Combine(temp.File("r"), "e2e-model", "manifest.json")));
    }
}
