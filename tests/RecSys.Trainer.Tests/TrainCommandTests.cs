using System.Net;
using System.Text.Json;
using RecSys.Trainer.Commands;
using RecSys.Trainer.Training;

namespace RecSys.Trainer.Tests;

public sealed class TrainCommandTests
{
    private static readonly string[] Fast = ["--dim", "16", "--epochs", "6", "--lambda", "5", "--no-metrics"];

    private static (string[] Ids, float[] Vectors, int Dimension) ReadItems(string modelDir)
    {
        var (rows, dimension, vectors) = ModelWriter.ReadNpy(Path.Combine(modelDir, "item_factors.npy"));
        var ids = File.ReadAllLines(Path.Combine(modelDir, "item_ids.txt"));
        Assert.Equal(rows, ids.Length);
        return (ids, vectors, dimension);
    }

    private static float Cosine(float[] v, int a, int b, int d)
    {
        double dot = 0, na = 0, nb = 0;
        for (var k = 0; k < d; k++)
        {
            dot += v[(a * d) + k] * v[(b * d) + k];
            na += v[(a * d) + k] * v[(a * d) + k];
            nb += v[(b * d) + k] * v[(b * d) + k];
        }

        return na == 0 || nb == 0 ? 0 : (float)(dot / Math.Sqrt(na * nb));
    }

    /// <summary>Share of the 10 nearest warm neighbours (cosine) of the given rows that have the row's planted topic.</summary>
    private static double NeighbourTopicAgreement(PlantedWorldFiles world, string[] ids, float[] vectors, int d, IEnumerable<int> rows, int warmRows)
    {
        int agree = 0, total = 0;
        foreach (var row in rows)
        {
            var nearest = Enumerable.Range(0, warmRows).Where(j => j != row).OrderByDescending(j => Cosine(vectors, row, j, d)).Take(10);
            foreach (var j in nearest)
            {
                total++;
                agree += world.TopicOf(ids[j]) == world.TopicOf(ids[row]) ? 1 : 0;
            }
        }

        return (double)agree / total;
    }

    private static string Sha(string modelDir, string file) => ModelManifest.Read(modelDir).Files.Single(f => f.Name == file).Sha256;

    [Fact]
    public async Task Training_on_a_planted_world_recovers_the_planted_neighbours_and_writes_a_complete_model()
    {
        using var temp = new TempDir();
        var world = new PlantedWorldFiles(temp.Path);
        var model = temp.File("model");
        var cli = new CliHarness();

        var code = await cli.RunAsync(["train", "--events", temp.Path, "--out", model, "--dim", "16", "--epochs", "6", "--lambda", "5"]);

        Assert.True(code == ExitCodes.Ok, cli.Output);
        var (ids, vectors, d) = ReadItems(model);
        Assert.Equal(16, d);
        Assert.Equal(world.Items, ids.Length);

        // Chance is 1 in 5.
        var agreement = NeighbourTopicAgreement(world, ids, vectors, d, Enumerable.Range(0, ids.Length), ids.Length);
        Assert.True(agreement > 0.6, $"nearest neighbours share the planted topic {agreement:P0} of the time\n{cli.Output}");

        var manifest = ModelManifest.Read(model);
        Assert.Equal(ModelManifest.CurrentFormat, manifest.Format);
        Assert.StartsWith("als-", manifest.Version, StringComparison.Ordinal);
        Assert.Equal(world.Users, manifest.Users);
        Assert.Equal(world.Users * 32, manifest.Data.EventsRead);
        Assert.Equal(world.Users, manifest.Data.Duplicates);
        Assert.Equal(PlantedWorldFiles.Start.AddMinutes(0), manifest.Data.FirstEvent);
        Assert.Equal("16", manifest.Parameters["dim"]);
        Assert.InRange(manifest.OfflineMetrics!["ndcg@10"], manifest.OfflineMetrics["mostPopular.ndcg@10"], 1.0);
        foreach (var file in manifest.Files)
        {
            using var stream = File.OpenRead(Path.Combine(model, file.Name));
            Assert.Equal(file.Sha256, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(stream)));
        }

        Assert.Contains("ALS epochs", cli.Output, StringComparison.Ordinal);
        Assert.Contains("epoch 6/6", cli.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Training_is_deterministic_for_a_seed_and_at_any_thread_count()
    {
        using var temp = new TempDir();
        _ = new PlantedWorldFiles(temp.Path, users: 80, items: 100);
        var cli = new CliHarness();

        Assert.Equal(0, await cli.RunAsync(["train", "--events", temp.Path, "--out", temp.File("a"), "--seed", "3", .. Fast]));
        Assert.Equal(0, await cli.RunAsync(["train", "--events", temp.Path, "--out", temp.File("b"), "--seed", "3", "--threads", "1", .. Fast]));
        Assert.Equal(0, await cli.RunAsync(["train", "--events", temp.Path, "--out", temp.File("c"), "--seed", "4", .. Fast]));

        Assert.Equal(Sha(temp.File("a"), "item_factors.npy"), Sha(temp.File("b"), "item_factors.npy"));
        Assert.Equal(Sha(temp.File("a"), "user_factors.npy"), Sha(temp.File("b"), "user_factors.npy"));
        Assert.NotEqual(Sha(temp.File("a"), "item_factors.npy"), Sha(temp.File("c"), "item_factors.npy"));
    }

    [Fact]
    public async Task Training_does_not_depend_on_the_order_the_log_holds_the_events_in()
    {
        using var temp = new TempDir();
        _ = new PlantedWorldFiles(temp.Path, users: 80, items: 100);
        var shuffledDir = Directory.CreateDirectory(temp.File("shuffled")).FullName;
        var lines = File.ReadAllLines(Path.Combine(temp.Path, "events.jsonl"));
        new Random(7).Shuffle(lines);
        File.WriteAllLines(Path.Combine(shuffledDir, "events.jsonl"), lines);
        File.Copy(Path.Combine(temp.Path, "items.jsonl"), Path.Combine(shuffledDir, "items.jsonl"));
        var cli = new CliHarness();

        Assert.Equal(0, await cli.RunAsync(["train", "--events", temp.Path, "--out", temp.File("a"), "--seed", "3", .. Fast]));
        Assert.Equal(0, await cli.RunAsync(["train", "--events", shuffledDir, "--out", temp.File("b"), "--seed", "3", .. Fast]));

        Assert.Equal(File.ReadAllLines(Path.Combine(temp.File("a"), "item_ids.txt")), File.ReadAllLines(Path.Combine(temp.File("b"), "item_ids.txt")));
        Assert.Equal(Sha(temp.File("a"), "item_factors.npy"), Sha(temp.File("b"), "item_factors.npy"));
        Assert.Equal(Sha(temp.File("a"), "user_factors.npy"), Sha(temp.File("b"), "user_factors.npy"));
    }

    [Fact]
    public async Task A_resumed_run_ends_exactly_where_an_uninterrupted_one_does()
    {
        using var temp = new TempDir();
        _ = new PlantedWorldFiles(temp.Path, users: 80, items: 100);
        var cli = new CliHarness();
        string[] common = ["--dim", "16", "--lambda", "5", "--no-metrics"];

        Assert.Equal(0, await cli.RunAsync(["train", "--events", temp.Path, "--out", temp.File("straight"), "--epochs", "6", .. common]));
        Assert.Equal(0, await cli.RunAsync(["train", "--events", temp.Path, "--out", temp.File("part"), "--epochs", "3", "--checkpoint-dir", temp.File("ck"), .. common]));
        var resumed = new CliHarness();
        Assert.Equal(0, await resumed.RunAsync(["train", "--events", temp.Path, "--out", temp.File("resumed"), "--epochs", "6", "--checkpoint-dir", temp.File("ck"), .. common]));

        Assert.Contains("resuming from", resumed.Output, StringComparison.Ordinal);
        Assert.Contains("3 of 6 epochs done", resumed.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("epoch 3/6", resumed.Output, StringComparison.Ordinal);
        Assert.Equal(Sha(temp.File("straight"), "item_factors.npy"), Sha(temp.File("resumed"), "item_factors.npy"));
        Assert.NotEqual(Sha(temp.File("straight"), "item_factors.npy"), Sha(temp.File("part"), "item_factors.npy"));
    }

    [Fact]
    public async Task A_checkpoint_of_other_data_is_refused_with_a_clear_error()
    {
        using var temp = new TempDir();
        var first = System.IO.Path.Combine(temp.Path, "first");
        var second = System.IO.Path.Combine(temp.Path, "second");
        Directory.CreateDirectory(first);
        Directory.CreateDirectory(second);
        _ = new PlantedWorldFiles(first, users: 60, items: 100, seed: 1);
        _ = new PlantedWorldFiles(second, users: 60, items: 100, seed: 2);
        var cli = new CliHarness();
        Assert.Equal(0, await cli.RunAsync(["train", "--events", first, "--out", temp.File("m1"), "--checkpoint-dir", temp.File("ck"), .. Fast]));

        var other = new CliHarness();
        var code = await other.RunAsync(["train", "--events", second, "--out", temp.File("m2"), "--checkpoint-dir", temp.File("ck"), .. Fast]);

        Assert.Equal(ExitCodes.InputError, code);
        Assert.Contains("was made from other data or parameters", other.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Content_vectors_put_cold_items_near_warm_items_of_their_topic()
    {
        using var temp = new TempDir();
        var world = new PlantedWorldFiles(temp.Path);
        var model = temp.File("model");
        var cli = new CliHarness();

        var code = await cli.RunAsync(["train", "--events", temp.Path, "--out", model, "--content", "--content-dim", "8", .. Fast]);

        Assert.True(code == ExitCodes.Ok, cli.Output);
        var (ids, vectors, d) = ReadItems(model);
        var manifest = ModelManifest.Read(model);
        Assert.Equal(world.Items, manifest.WarmItems);
        Assert.Equal(world.ColdItems, manifest.ColdItems);
        Assert.Equal(world.Items + world.ColdItems, ids.Length);
        Assert.All(ids[world.Items..], id => Assert.StartsWith("cold", id, StringComparison.Ordinal));
        Assert.Contains(manifest.Files, f => f.Name == "item_content.npy");

        var agreement = NeighbourTopicAgreement(world, ids, vectors, d, Enumerable.Range(world.Items, world.ColdItems), world.Items);
        Assert.True(agreement > 0.6, $"cold items' nearest warm items share the planted topic {agreement:P0} of the time");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Pulls_the_export_of_a_FeatureServer_and_publishes_the_vectors_to_Retrieval_as_a_version(bool passes)
    {
        using var temp = new TempDir();
        var world = new PlantedWorldFiles(temp.Path, users: 50, items: 100, coldItems: 0);
        var uploadedItems = 0;
        var uploadedUsers = 0;
        var polls = 0;
        string? eventsQuery = null;
        string? activated = null;
        var stagedVersions = new System.Collections.Concurrent.ConcurrentBag<string>();
        var handler = new FakeHandler((request, body, _) =>
        {
            var uri = request.RequestUri!;
            var segments = uri.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
            switch (uri.Host, uri.AbsolutePath)
            {
                case ("fs.test", "/v1/export/items"):
                    return FakeHandler.Json(HttpStatusCode.OK, string.Join('\n', world.ItemLines) + "\n", "application/x-ndjson");
                case ("fs.test", "/v1/export/events"):
                    eventsQuery = uri.Query;
                    return FakeHandler.Json(HttpStatusCode.OK, string.Join('\n', world.EventLines) + "\n", "application/x-ndjson");
                case ("retrieval.test", _) when segments is ["v1", "embeddings", var v, "items"] && request.Method == HttpMethod.Put:
                    stagedVersions.Add(v);
                    Interlocked.Add(ref uploadedItems, JsonDocument.Parse(body).RootElement.GetProperty("items").GetArrayLength());
                    return FakeHandler.Json(HttpStatusCode.OK, "{}");
                case ("retrieval.test", _) when segments is ["v1", "embeddings", var v, "users"] && request.Method == HttpMethod.Put:
                    stagedVersions.Add(v);
                    Interlocked.Add(ref uploadedUsers, JsonDocument.Parse(body).RootElement.GetProperty("users").GetArrayLength());
                    return FakeHandler.Json(HttpStatusCode.OK, "{}");
                case ("retrieval.test", _) when segments is ["v1", "embeddings", var v, "activate"] && request.Method == HttpMethod.Post:
                    activated = v;
                    return FakeHandler.Json(HttpStatusCode.Accepted, "{}");
                case ("retrieval.test", _) when segments is ["v1", "embeddings", _] && request.Method == HttpMethod.Get:
                    // Running at the first poll, then the outcome.
                    var state = Interlocked.Increment(ref polls) == 1 ? "running" : passes ? "activated" : "rejected";
                    var recall = passes ? "0.987" : "0.91";
                    var reason = passes ? "null" : "\"recall@10 0.910 < 0.95 (on 100 queries at ef 100, 100 items)\"";
                    return FakeHandler.Json(HttpStatusCode.OK, $$$"""{"activation":{"state":"{{{state}}}","recall":{{{recall}}},"minRecall":0.95,"items":100,"reason":{{{reason}}}}}""");
                default:
                    return FakeHandler.Json(HttpStatusCode.NotFound, "{}");
            }
        });
        var cli = new CliHarness(handler);

        var code = await cli.RunAsync(["train", "--target", "http://fs.test", "--from", "2026-01-01T00:00:00Z", "--out", temp.File("model"), "--publish", "--retrieval", "http://retrieval.test", .. Fast]);

        var manifest = ModelManifest.Read(temp.File("model"));
        Assert.Contains("from=2026-01-01", Uri.UnescapeDataString(eventsQuery!), StringComparison.Ordinal);
        Assert.Equal(world.Items, uploadedItems);
        Assert.Equal(world.Users, uploadedUsers);
        Assert.Equal([manifest.Version], stagedVersions.Distinct());
        Assert.Equal(manifest.Version, activated);
        Assert.True(polls >= 2);
        Assert.Contains("published 100 item and 50 user vectors", cli.Output, StringComparison.Ordinal);
        Assert.StartsWith("FeatureServer http://fs.test", manifest.Data.Source, StringComparison.Ordinal);
        if (passes)
        {
            Assert.True(code == ExitCodes.Ok, cli.Output);
            Assert.Contains("activated (recall@10 0.987 >= 0.95)", cli.Output, StringComparison.Ordinal);
        }
        else
        {
            Assert.Equal(ExitCodes.Rejected, code);
            Assert.Contains("rejected: recall@10 0.910 < 0.95", cli.Output, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("--dim", "0")]
    [InlineData("--epochs", "0")]
    [InlineData("--lambda", "-1")]
    [InlineData("--threads", "0")]
    [InlineData("--half-life-days", "-3")]
    [InlineData("--from", "yesterday-ish")]
    [InlineData("--content-dim", "0")]
    public async Task Bad_options_exit_non_zero_with_a_message(string option, string value)
    {
        using var temp = new TempDir();
        _ = new PlantedWorldFiles(temp.Path, users: 10, items: 20);
        var cli = new CliHarness();

        var code = await cli.RunAsync(["train", "--events", temp.Path, "--out", temp.File("model"), "--content", option, value]);

        Assert.NotEqual(0, code);
        Assert.Contains(option, cli.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(System.IO.Path.Combine(temp.File("model"), ModelManifest.FileName)));
    }

    [Fact]
    public async Task Bad_inputs_exit_non_zero_with_a_message()
    {
        using var temp = new TempDir();
        var broken = temp.Write("broken.jsonl", "{\"eventId\":\"a\",\"userId\":\"u\",\"itemId\":\"i\",\"type\":\"click\",\"eventTime\":\"2026-01-01T00:00:00Z\"}\n{not json\n");
        var empty = temp.Write("empty.jsonl", "");

        var missing = new CliHarness();
        Assert.Equal(ExitCodes.InputError, await missing.RunAsync("train", "--events", temp.File("nope.jsonl"), "--out", temp.File("m")));
        Assert.Contains("does not exist", missing.Output, StringComparison.Ordinal);

        var invalid = new CliHarness();
        Assert.Equal(ExitCodes.InputError, await invalid.RunAsync("train", "--events", broken, "--out", temp.File("m")));
        Assert.Contains("line 2", invalid.Output, StringComparison.Ordinal);

        var nothing = new CliHarness();
        Assert.Equal(ExitCodes.InputError, await nothing.RunAsync("train", "--events", empty, "--out", temp.File("m")));
        Assert.Contains("No interactions", nothing.Output, StringComparison.Ordinal);

        var both = new CliHarness();
        Assert.Equal(ExitCodes.InputError, await both.RunAsync("train", "--events", empty, "--target", "http://x.test", "--out", temp.File("m")));
        Assert.Contains("not both", both.Output, StringComparison.Ordinal);

        var window = new CliHarness();
        Assert.Equal(ExitCodes.InputError, await window.RunAsync("train", "--events", empty, "--from", "2026-02-01", "--until", "2026-01-01", "--out", temp.File("m")));
        Assert.Contains("--from must be before --until", window.Output, StringComparison.Ordinal);

        var noRetrieval = new CliHarness();
        Assert.Equal(ExitCodes.InputError, await noRetrieval.RunAsync("train", "--events", broken, "--publish", "--out", temp.File("m")));
        Assert.Contains("--publish needs the Retrieval service", noRetrieval.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_FeatureServer_is_reported_with_its_exit_code()
    {
        using var temp = new TempDir();
        var cli = new CliHarness(new FakeHandler((_, _, _) => throw new HttpRequestException("Connection refused")));

        var code = await cli.RunAsync("train", "--target", "http://fs.test", "--out", temp.File("m"));

        Assert.Equal(ExitCodes.Unreachable, code);
        Assert.Contains("Connection refused", cli.Output, StringComparison.Ordinal);
    }
}
