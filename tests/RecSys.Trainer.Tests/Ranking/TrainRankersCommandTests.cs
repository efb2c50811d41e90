using System.Text.Json;
using RecSys.Learning.Ranking;
using RecSys.Ranking.Features;
using RecSys.Trainer.Ranking;

namespace RecSys.Trainer.Tests.Ranking;

public sealed class TrainRankersCommandTests
{
    private static readonly string[] Fast =
    [
        "--dim", "8", "--epochs", "4", "--lambda", "5", "--als-candidates", "30", "--popular-candidates", "5", "--windows", "2",
        "--trees", "20", "--main-epochs", "2", "--student-epochs", "2",
    ];

    /// <summary>The catalog's features a release reads by default (the embedding products past the default count left out).</summary>
    private static readonly IReadOnlyList<string> DefaultNames =
        [.. RankingFeatureCatalog.Names.Except(TrainRankersCommand.UnusedEmbeddingProducts(TrainRankersCommand.DefaultEmbeddingProducts))];

    [Fact]
    public async Task Embedding_products_feed_the_main_ranker_and_the_student_but_not_the_pre_ranker_with_onnx_parity()
    {
        using var temp = new TempDir();
        _ = new PlantedWorldFiles(temp.Path, users: 150, items: 200, coldItems: 5, eventsPerUser: 25);
        var cli = new CliHarness();
        var code = await cli.RunAsync(["train-rankers", "--events", temp.Path, "--out", temp.File("releases"), "--version", "r4", "--evaluate",
            "--embedding-products", "6", "--main-weight-decay", "0.1", .. Fast]);
        Assert.True(code == 0, cli.Output);

        var release = Path.Combine(temp.File("releases"), "r4");
        var pre = ModelManifest.Read(Path.Combine(release, RankerRelease.PreRankerFolder));
        var main = ModelManifest.Read(Path.Combine(release, RankerRelease.MainRankerFolder));
        var student = ModelManifest.Read(Path.Combine(release, RankerRelease.StudentFolder));
        string[] products = [.. Enumerable.Range(0, 6).Select(RankingFeatureCatalog.EmbeddingProductName)];
        Assert.Equal(RankingFeatureCatalog.CheapNames, pre.Features.Select(f => f.Name));
        Assert.Equal(products, main.Features.Select(f => f.Name).Where(n => n.StartsWith("als_product_", StringComparison.Ordinal)));
        Assert.Equal(main.Features.Select(f => f.Name), student.Features.Select(f => f.Name));

        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(release, RankerRelease.ReportFile)));
        Assert.Equal(6, report.RootElement.GetProperty("embeddingProducts").GetInt32());
        Assert.Equal(0.1f, report.RootElement.GetProperty("mainWeightDecay").GetSingle());
        var metrics = report.RootElement.GetProperty("metrics");
        foreach (var name in new[] { "main_ranker_onnx_max_abs_diff", "student_onnx_max_abs_diff" })
        {
            Assert.InRange(metrics.GetProperty(name).GetDouble(), 0, 1e-4);
        }

        // The dimension is 8, so coordinates 6 and 7 are not read; the products vary (the user and item vectors are known).
        var stats = report.RootElement.GetProperty("featureStats");
        Assert.True(stats.GetProperty("als_product_00")[1].GetDouble() > 0);
        Assert.False(stats.TryGetProperty("als_product_06", out _));
    }

    [Fact]
    public async Task Training_writes_a_release_the_serving_can_read_with_onnx_parity_and_an_evaluation()
    {
        using var temp = new TempDir();
        _ = new PlantedWorldFiles(temp.Path, users: 150, items: 200, coldItems: 5, eventsPerUser: 25);
        var cli = new CliHarness();
        var code = await cli.RunAsync(["train-rankers", "--events", temp.Path, "--out", temp.File("releases"), "--version", "r1", "--evaluate", .. Fast]);
        Assert.True(code == 0, cli.Output + File.ReadAllText(Path.Combine(temp.File("releases"), "r1", RankerRelease.ReportFile)));

        var release = Path.Combine(temp.File("releases"), "r1");
        var pre = ModelManifest.Read(Path.Combine(release, RankerRelease.PreRankerFolder));
        var main = ModelManifest.Read(Path.Combine(release, RankerRelease.MainRankerFolder));
        var student = ModelManifest.Read(Path.Combine(release, RankerRelease.StudentFolder));
        Assert.Equal(("pre-ranker", "main-ranker", "student"), (pre.Kind, main.Kind, student.Kind));
        Assert.All(new[] { pre, main, student }, m => Assert.Equal("r1", m.Version));
        Assert.Equal(RankingFeatureCatalog.CheapNames, pre.Features.Select(f => f.Name));
        Assert.Equal(DefaultNames, main.Features.Select(f => f.Name));
        Assert.Equal(DefaultNames, student.Features.Select(f => f.Name));
        Assert.All(new[] { pre, main, student }, m => Assert.Equal([-1L, m.Features.Count], m.Inputs.Single().Shape));
        Assert.Contains(main.Files, f => f.Path == ModelPackage.CalibrationFile);
        Assert.Contains(student.Files, f => f.Path == ModelPackage.CalibrationFile);
        _ = SegmentCalibration.FromJson(File.ReadAllText(Path.Combine(release, RankerRelease.MainRankerFolder, ModelPackage.CalibrationFile)));

        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(release, RankerRelease.ReportFile)));
        Assert.True(report.RootElement.GetProperty("groups").GetInt32() > 150);
        Assert.Equal(new RankerModelOptions().MainRanker.WeightDecay, report.RootElement.GetProperty("mainWeightDecay").GetSingle());

        // ONNX parity was checked on 10,000 rows and is recorded (float32 rounding: 1e-5 absolute, relative for logits beyond 1);
        // the main ranker learned something on the planted topics.
        var metrics = report.RootElement.GetProperty("metrics");
        foreach (var name in new[] { "pre_ranker_onnx_max_abs_diff", "main_ranker_onnx_max_abs_diff", "student_onnx_max_abs_diff" })
        {
            Assert.InRange(metrics.GetProperty(name).GetDouble(), 0, 1e-4);
        }

        Assert.True(metrics.GetProperty("main_ranker_auc").GetDouble() > 0.55, $"main ranker AUC {metrics.GetProperty("main_ranker_auc")}");
        Assert.Contains(report.RootElement.GetProperty("evaluation").EnumerateObject(), p => p.Name == "ALS alone");
        Assert.True(File.Exists(Path.Combine(release, "evaluation.md")));
    }

    [Fact]
    public async Task Excluded_features_are_left_out_of_every_model_and_lapsed_requests_have_no_session_and_capped_recency()
    {
        using var temp = new TempDir();
        _ = new PlantedWorldFiles(temp.Path, users: 120, items: 150, coldItems: 0, eventsPerUser: 20);
        var cli = new CliHarness();
        string[] excluded = ["item_trend_7d_30d", "recent_item_log_count", "popularity_x_user_activity"];
        var code = await cli.RunAsync(["train-rankers", "--events", temp.Path, "--out", temp.File("releases"), "--version", "r2", "--evaluate",
            "--exclude-features", string.Join(',', excluded), "--lapsed-dropout", "1", .. Fast]);
        Assert.True(code == 0, cli.Output);

        var release = Path.Combine(temp.File("releases"), "r2");
        var pre = ModelManifest.Read(Path.Combine(release, RankerRelease.PreRankerFolder));
        var main = ModelManifest.Read(Path.Combine(release, RankerRelease.MainRankerFolder));
        Assert.Equal(RankingFeatureCatalog.CheapNames.Except(excluded), pre.Features.Select(f => f.Name));
        Assert.Equal(DefaultNames.Except(excluded), main.Features.Select(f => f.Name));
        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(release, RankerRelease.ReportFile)));
        Assert.Equal(1, report.RootElement.GetProperty("lapsedDropout").GetDouble());

        // Every training request was read as lapsed: no session, days since the latest event at the cap ([mean, sd, min, max]).
        var stats = report.RootElement.GetProperty("featureStats");
        Assert.Equal(0, stats.GetProperty("session_interaction_count")[3].GetDouble());
        var capped = Math.Log(1 + RankingFeatureCatalog.MaxDays);
        Assert.Equal(capped, stats.GetProperty("user_log_days_since_last_event")[2].GetDouble(), 5);
        Assert.Equal(capped, stats.GetProperty("user_log_days_since_last_event")[3].GetDouble(), 5);
        Assert.DoesNotContain(excluded, name => stats.TryGetProperty(name, out _));
        Assert.Contains("test features as of DataEnd", File.ReadAllText(Path.Combine(release, "evaluation.md")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pre_ranker_extra_candidates_widen_only_the_pre_rankers_rows_and_the_wide_evaluation_scores_the_served_cascade()
    {
        using var temp = new TempDir();
        _ = new PlantedWorldFiles(temp.Path, users: 120, items: 200, coldItems: 0, eventsPerUser: 20);
        string[] wide = ["--retrieval-als-depth", "120", "--retrieval-popular-depth", "40", "--pre-rank-keep", "60", "--evaluate-wide"];
        var baseline = new CliHarness();
        Assert.True(await baseline.RunAsync(["train-rankers", "--events", temp.Path, "--out", temp.File("releases"), "--version", "narrow", "--evaluate", .. wide, .. Fast]) == 0, baseline.Output);
        var cli = new CliHarness();
        var code = await cli.RunAsync(["train-rankers", "--events", temp.Path, "--out", temp.File("releases"), "--version", "extra", "--evaluate",
            "--pre-ranker-extra-candidates", "25", .. wide, .. Fast]);
        Assert.True(code == 0, cli.Output);

        using var narrow = JsonDocument.Parse(File.ReadAllText(Path.Combine(temp.File("releases"), "narrow", RankerRelease.ReportFile)));
        using var extra = JsonDocument.Parse(File.ReadAllText(Path.Combine(temp.File("releases"), "extra", RankerRelease.ReportFile)));
        double Metric(JsonDocument d, string name) => d.RootElement.GetProperty("metrics").GetProperty(name).GetDouble();

        // The main ranker's rows (and so its model and metrics) are the same; only the pre-ranker trains on more rows per request.
        Assert.Equal(narrow.RootElement.GetProperty("rows").GetInt64(), extra.RootElement.GetProperty("rows").GetInt64());
        Assert.Equal(Metric(narrow, "train_rows"), Metric(narrow, "pre_ranker_train_rows"));
        Assert.Equal(Metric(narrow, "train_rows"), Metric(extra, "train_rows"));
        Assert.Equal(Metric(narrow, "main_ranker_auc"), Metric(extra, "main_ranker_auc"));
        var extraRows = Metric(extra, "pre_ranker_train_rows") - Metric(extra, "train_rows");
        var requests = extra.RootElement.GetProperty("groups").GetInt32() * (1 - 0.1 - 0.1);
        Assert.InRange(extraRows, requests * 10, requests * 25 + 25);
        Assert.Equal(25, extra.RootElement.GetProperty("preRankerExtraCandidates").GetInt32());
        Assert.NotEqual(Metric(narrow, "pre_ranker_auc"), Metric(extra, "pre_ranker_auc"));

        // The wide evaluation ran the pre-ranker over the deep candidates and the main ranker over the ones it kept.
        var evaluation = extra.RootElement.GetProperty("evaluation");
        Assert.Contains(evaluation.EnumerateObject(), p => p.Name == "deep candidates: pre-ranker top 60, then main ranker (as served)");
        Assert.Contains(evaluation.EnumerateObject(), p => p.Name.StartsWith("deep candidates (120 ALS + 40 popular)", StringComparison.Ordinal));
        Assert.All(evaluation.EnumerateObject(), p => Assert.InRange(p.Value.GetDouble(), 0, 1));
    }

    [Fact]
    public async Task Compared_pre_rankers_train_on_the_releases_rows_and_report_quality_recall_and_cost()
    {
        using var temp = new TempDir();
        _ = new PlantedWorldFiles(temp.Path, users: 120, items: 200, coldItems: 0, eventsPerUser: 20);
        var cli = new CliHarness();
        // Fast sets --trees 20; the release's leaves are 15 here, and the last compared setting repeats the release's.
        var code = await cli.RunAsync(["train-rankers", "--events", temp.Path, "--out", temp.File("releases"), "--version", "cmp", "--evaluate",
            "--retrieval-als-depth", "120", "--retrieval-popular-depth", "40", "--pre-rank-keep", "60", "--evaluate-wide", .. Fast,
            "--pre-ranker-leaves", "15", "--compare-pre-rankers", "5x3,10x7@0.1,20x15"]);
        Assert.True(code == 0, cli.Output);

        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(temp.File("releases"), "cmp", RankerRelease.ReportFile)));
        Assert.Equal("20x15@0.05", report.RootElement.GetProperty("preRanker").GetString());
        var figures = report.RootElement.GetProperty("preRankerComparison").EnumerateArray().ToList();
        Assert.Equal(["20x15@0.05 (release)", "5x3@0.05", "10x7@0.1", "20x15@0.05"], figures.Select(f => f.GetProperty("Setting").GetString()));
        Assert.Equal([20, 5, 10, 20], figures.Select(f => f.GetProperty("Trees").GetInt32()));
        Assert.Equal(1.0, figures[0].GetProperty("CostRatio").GetDouble());
        foreach (var f in figures)
        {
            foreach (var name in new[] { "PreRankerNdcg10", "CascadeNdcg10", "RecallOfMainTop10", "RecallOfMainTop50" })
            {
                Assert.InRange(f.GetProperty(name).GetDouble(), 0, 1);
            }

            Assert.True(f.GetProperty("MicrosecondsPer5000Rows").GetDouble() > 0);
        }

        // Trees of at most 3 leaves have fewer nodes than trees of up to 15.
        Assert.True(figures[1].GetProperty("Nodes").GetInt32() < figures[3].GetProperty("Nodes").GetInt32());

        // The release's settings trained again on the same rows give the release's model, so the same quality and recall.
        foreach (var name in new[] { "Nodes", "PreRankerNdcg10", "CascadeNdcg10", "RecallOfMainTop10", "RecallOfMainTop50" })
        {
            Assert.Equal(figures[0].GetProperty(name).GetDouble(), figures[3].GetProperty(name).GetDouble());
        }

        Assert.Contains("recall of main top 10", cli.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--pre-ranker-leaves", "1")]
    [InlineData("--pre-ranker-learning-rate", "0")]
    [InlineData("--compare-pre-rankers", "50y15")]
    [InlineData("--compare-pre-rankers", "50x15")]
    [InlineData("--lapsed-dropout", "1.5")]
    [InlineData("--exclude-features", "no_such_feature")]
    [InlineData("--windows", "0")]
    [InlineData("--pre-ranker-extra-candidates", "-1")]
    [InlineData("--retrieval-als-depth", "10")]
    [InlineData("--label-fraction", "1.5")]
    [InlineData("--version", "../x")]
    [InlineData("--label-half-life-days", "-3")]
    [InlineData("--features-from", "featureserver")]
    [InlineData("--embedding-products", "65")]
    [InlineData("--main-weight-decay", "-1")]
    public async Task Bad_options_are_refused_with_a_message(string option, string value)
    {
        using var temp = new TempDir();
        _ = new PlantedWorldFiles(temp.Path, users: 10, items: 20, coldItems: 0, eventsPerUser: 5);
        var cli = new CliHarness();
        var code = await cli.RunAsync(["train-rankers", "--events", temp.Path, "--out", temp.File("out"), option, value]);
        Assert.NotEqual(0, code);
        Assert.Contains("error", cli.Output, StringComparison.Ordinal);
    }
}
