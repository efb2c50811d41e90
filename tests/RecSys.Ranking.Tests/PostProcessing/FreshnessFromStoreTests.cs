using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.Serving;
using RecSys.FeatureStore.Streaming;
using RecSys.FeatureStore.Telemetry;
using RecSys.Ranking.PostProcessing;
using RecSys.TestSupport;
using static RecSys.Ranking.Tests.PostProcessing.PostProcessingTestKit;

namespace RecSys.Ranking.Tests.PostProcessing;

/// <summary>The freshness rule on what serving reads: the item's creation time from the store's item hash.</summary>
public sealed class FreshnessFromStoreTests(EmbeddedGarnet garnet) : IClassFixture<EmbeddedGarnet>
{
    [Fact]
    public async Task Items_the_store_knows_as_fresh_are_boosted_above_older_better_ones()
    {
        garnet.Flush();
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var applier = new OnlineApplier(garnet.Connection, new FeatureStoreTelemetry(services.GetRequiredService<IMeterFactory>(), new ProcessorState()));
        await applier.InitializeAsync();
        List<LogRecord> records =
        [
            TestData.Item("fresh", "c1", ["news"], Now.AddHours(-1)),
            TestData.Item("old", "c2", ["news"], Now.AddDays(-400)),
        ];
        var entries = TestData.Entries(records);
        Assert.True((await applier.ApplyAsync(entries, 0, entries.Count)).Committed);

        var metadata = await new ItemMetadataReader(garnet.Connection).ReadAsync(["fresh", "old", "unknown"], CancellationToken.None);
        Assert.Equal(Now.AddHours(-1), metadata[0]!.CreatedAt);
        Assert.Equal(Now.AddDays(-400), metadata[1]!.CreatedAt);
        Assert.Null(metadata[2]);

        // Built as the two-stage ranker builds them: no time on the candidate, the metadata as read.
        var pipeline = Pipeline(Plain(o => o.Freshness = new FreshnessBoostOptions { Window = TimeSpan.FromDays(2), Factor = 2 }));
        var result = pipeline.Process(new PostProcessingRequest(
            [new PostProcessingCandidate("old", Logit(0.5), metadata[1]), new PostProcessingCandidate("fresh", Logit(0.3), metadata[0])],
            10, Segment, "home", Now, Calibration: null));

        Assert.Equal(["fresh", "old"], Ids(result));
        Assert.Equal(1, Report(result, "freshness").Changed);
        Assert.True(result.Items[0].Score > 0.55, $"fresh scored {result.Items[0].Score}");
    }
}
