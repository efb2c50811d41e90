using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace RecSys.Ranking.Serving;

/// <summary>
/// The Ranking service's one meter and one activity source (both named <c>RecSys.Ranking</c>). Durations are recorded in
/// seconds (OpenTelemetry semantic conventions); the names are listed in docs/telemetry.md.
/// </summary>
public sealed class RankingTelemetry
{
    public const string Name = "RecSys.Ranking";

    public static readonly ActivitySource ActivitySource = new(Name);

    // A request waits for Retrieval (2 s timeout by default) and usually answers within tens of milliseconds.
    private static readonly double[] DurationBuckets = [0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1, 2];

    // Model stages take from tens of microseconds (a small pre-ranker run) to tens of milliseconds (a queued main stage).
    private static readonly double[] StageBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1];

    // Counts up to Ranking:MaxCount (at most 500).
    private static readonly int[] ItemBuckets = [0, 1, 5, 10, 20, 50, 100, 200, 500];

    // Main-stage runs: power-of-two rows up to the batcher's largest batch.
    private static readonly int[] BatchBuckets = [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];

    private readonly Histogram<double> _duration;
    private readonly Counter<long> _requests;
    private readonly Counter<long> _degraded;
    private readonly Histogram<int> _returned;
    private readonly Histogram<double> _stage;
    private readonly Histogram<int> _batchRows;
    private readonly Counter<long> _loadFailures;
    private readonly Counter<long> _queueFull;
    private Func<ModelInfo?> _modelInfo = static () => null;

    public RankingTelemetry(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        var meter = meterFactory.Create(Name);
        _duration = meter.CreateHistogram(
            "recsys.recommendations.duration", unit: "s", description: "Time to answer /v1/recommendations.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _requests = meter.CreateCounter<long>("recsys.recommendations.requests", unit: "{request}", description: "Recommendation requests answered.");
        _degraded = meter.CreateCounter<long>(
            "recsys.recommendations.degraded", unit: "{request}", description: "Requests answered with a degraded stage.");
        _returned = meter.CreateHistogram(
            "recsys.recommendations.items", unit: "{item}", description: "Items returned per request.",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = ItemBuckets });
        _stage = meter.CreateHistogram(
            "recsys.ranking.stage.duration", unit: "s", description: "Time of one ranking stage of one request (tag stage: feature_fetch, pre_rank, main_rank).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = StageBuckets });
        _batchRows = meter.CreateHistogram(
            "recsys.ranking.main.batch.rows", unit: "{row}", description: "Rows per main-stage session run (padding included).",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = BatchBuckets });
        _loadFailures = meter.CreateCounter<long>("recsys.ranking.model.load_failures", unit: "{release}", description: "Ranker releases that failed to load.");
        _queueFull = meter.CreateCounter<long>("recsys.ranking.rejected", unit: "{request}", description: "Requests answered 429 because the main stage's queue was full.");
        meter.CreateObservableGauge("recsys.ranking.model.loaded", ObserveModel, unit: "1",
            description: "1 while a ranker release is served (tags: release, pre_ranker, main_stage, main_version, provider); nothing when the fused-score fallback serves.");
    }

    public void RecordRequest(TimeSpan elapsed, int items, bool degraded)
    {
        _duration.Record(elapsed.TotalSeconds);
        _requests.Add(1);
        _returned.Record(items);
        if (degraded)
        {
            _degraded.Add(1);
        }
    }

    public void RecordStage(string stage, TimeSpan elapsed) => _stage.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("stage", stage));

    public void RecordMainBatch(int rows) => _batchRows.Record(rows);

    public void RecordLoadFailure() => _loadFailures.Add(1);

    public void RecordQueueFull() => _queueFull.Add(1);

    /// <summary>Where the loaded-model gauge reads the served release from.</summary>
    internal void ObserveModelsWith(Func<ModelInfo?> modelInfo) => _modelInfo = modelInfo;

    private IEnumerable<Measurement<int>> ObserveModel()
    {
        if (_modelInfo() is not { } info)
        {
            yield break;
        }

        yield return new Measurement<int>(1,
            new KeyValuePair<string, object?>("release", info.Release),
            new KeyValuePair<string, object?>("pre_ranker", info.PreRankerVersion),
            new KeyValuePair<string, object?>("main_stage", info.MainStage),
            new KeyValuePair<string, object?>("main_version", info.MainVersion),
            new KeyValuePair<string, object?>("provider", info.Provider));
    }
}

/// <summary>What is served: release, model versions and the execution provider.</summary>
public sealed record ModelInfo(string Release, string PreRankerVersion, string MainStage, string MainVersion, string Provider);
