using Microsoft.Extensions.Options;
using RecSys.FeatureStore.Serving;
using RecSys.Learning.Ranking;
using RecSys.Ranking.PostProcessing;

namespace RecSys.Ranking.Tests.PostProcessing;

/// <summary>Small hand-built requests for the post-processing tests.</summary>
internal static class PostProcessingTestKit
{
    public static readonly DateTimeOffset Now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    public static readonly SegmentKey Segment = new(1, 2);

    /// <summary>Options with every rule and cap off, so that each test turns on only what it checks.</summary>
    public static PostProcessingOptions Plain(Action<PostProcessingOptions>? configure = null)
    {
        var options = new PostProcessingOptions
        {
            Freshness = new FreshnessBoostOptions { Window = TimeSpan.Zero, Factor = 1 },
            Diversity = new DiversityOptions { Enabled = true, Lambda = 1 },
        };
        configure?.Invoke(options);
        return options;
    }

    public static PostProcessingPipeline Pipeline(PostProcessingOptions options) => new(Options.Create(options));

    /// <summary>A candidate whose probability (sigmoid of its logit, without calibrator) is <paramref name="probability"/>.</summary>
    public static PostProcessingCandidate Item(string id, double probability, string? creator = null, string[]? categories = null,
        bool available = true, TimeSpan? age = null, float[]? embedding = null) =>
        new(id, Logit(probability), new ItemMetadata(creator, categories ?? [], available), age is { } a ? Now - a : null, embedding ?? default(ReadOnlyMemory<float>));

    public static float Logit(double probability) => (float)Math.Log(probability / (1 - probability));

    public static PostProcessingResult Run(PostProcessingPipeline pipeline, int count, params PostProcessingCandidate[] candidates) =>
        pipeline.Process(new PostProcessingRequest(candidates, count, Segment, "home", Now, Calibration: null));

    public static string[] Ids(PostProcessingResult result) => [.. result.Items.Select(i => i.ItemId)];

    public static PostProcessingStageReport Report(PostProcessingResult result, string stage) => result.Stages.Single(s => s.Stage == stage);
}
