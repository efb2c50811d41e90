using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using RecSys.Batching;
using RecSys.Ranking.Models;

namespace RecSys.Ranking.Serving;

/// <summary>Which execution provider model sessions ask for.</summary>
public enum ExecutionProviderPreference
{
    /// <summary>CUDA when the CUDA and cuDNN libraries load (GPU package only), else CPU.</summary>
    Auto,

    /// <summary>CPU only, even on a GPU host.</summary>
    Cpu,
}

/// <summary>Settings of the learned two-stage ranker (section <c>Ranking:Models</c>).</summary>
public sealed class RankingModelOptions
{
    public const string SectionName = "Ranking:Models";

    /// <summary>
    /// Folder holding ranker release folders (each named by its version); the newest valid one is served. Unset: no learned
    /// ranker, every response is ranked by the fused retrieval score and flagged degraded "model".
    /// </summary>
    public string? Path { get; set; }

    /// <summary>Which model of a release ranks the pre-ranker's best: <c>main-ranker</c> or its distilled <c>student</c>.</summary>
    [Required]
    [AllowedValues(ModelKinds.MainRanker, ModelKinds.Student)]
    public string MainStage { get; set; } = ModelKinds.MainRanker;

    /// <summary>How often the release folder and <see cref="MainStage"/> are re-checked.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan ReloadInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Candidates the pre-ranker passes to the main stage.</summary>
    [Range(1, 10_000)]
    public int PreRankKeep { get; set; } = 500;

    /// <summary>
    /// Most features a release fetches per request: the union of the two models' features, pruned to the most important by
    /// the importances their manifests record; pruned inputs are fed their default.
    /// </summary>
    [Range(1, 10_000)]
    public int MaxFetchedFeatures { get; set; } = FeaturePlan.DefaultMaxFetched;

    public ExecutionProviderPreference ExecutionProvider { get; set; } = ExecutionProviderPreference.Auto;

    [Range(0, 64)]
    public int CudaDeviceId { get; set; }

    /// <summary>ONNX Runtime intra-op threads per session (0: one per core). One keeps concurrent requests from oversubscribing the cores.</summary>
    [Range(0, 256)]
    public int IntraOpThreads { get; set; } = 1;

    /// <summary>
    /// Whether a pre-ranker's tree ensemble is compiled from its model.onnx and scored without ONNX Runtime (several times
    /// cheaper per row). It serves only after matching ONNX Runtime on verification rows at load; ONNX Runtime stays the
    /// reference and the fallback.
    /// </summary>
    public bool CompileTreeEnsembles { get; set; } = true;

    /// <summary>Largest run of the pre-ranker; longer candidate lists are scored in runs of this many rows.</summary>
    [Range(16, 65_536)]
    public int MaxRowsPerRun { get; set; } = 1024;

    /// <summary>Dynamic batching in front of the main stage's session (rows of concurrent requests share runs).</summary>
    [Required]
    [ValidateObjectMembers]
    public MainStageBatchingOptions Batching { get; set; } = new();
}

/// <summary>
/// The main stage's <see cref="DynamicBatcher{TRow}"/> settings (section <c>Ranking:Models:Batching</c>); rows, not requests:
/// a request brings up to <see cref="RankingModelOptions.PreRankKeep"/> rows.
/// </summary>
public sealed class MainStageBatchingOptions
{
    [Range(1, 65_536)]
    public int MaxBatchRows { get; set; } = 256;

    [Range(1, 65_536)]
    public int MinAdaptiveBatchRows { get; set; } = 64;

    [Range(1, 65_536)]
    public int MaxAdaptiveBatchRows { get; set; } = 1024;

    [Range(typeof(TimeSpan), "00:00:00.0001", "00:00:10")]
    public TimeSpan MaxWait { get; set; } = TimeSpan.FromMilliseconds(2);

    /// <summary>
    /// A request of at least this many main-stage rows (a learned request sends ~500) is scored without waiting for other
    /// requests' rows to join its last batch; smaller ones wait up to <see cref="MaxWait"/> as before. 0 turns it off.
    /// </summary>
    [Range(0, 10_000_000)]
    public int CloseAtOnceRequestRows { get; set; } = 64;

    /// <summary>Rows that may wait; a request that does not fit is answered 429 with Retry-After.</summary>
    [Range(1, 10_000_000)]
    public int QueueCapacityRows { get; set; } = 16_384;

    [Range(1, 64)]
    public int WorkerCount { get; set; } = 1;

    public bool AdaptationEnabled { get; set; } = true;

    [Range(typeof(TimeSpan), "00:00:00.001", "00:01:00")]
    public TimeSpan TargetP99 { get; set; } = TimeSpan.FromMilliseconds(30);

    /// <summary>The batcher's options for a main-stage model <paramref name="width"/> features wide.</summary>
    public DynamicBatchingOptions ToBatcherOptions(int width)
    {
        var minWait = MaxWait < TimeSpan.FromMilliseconds(2) ? MaxWait : TimeSpan.FromMilliseconds(2);
        var maxWait = MaxWait > TimeSpan.FromMilliseconds(10) ? MaxWait : TimeSpan.FromMilliseconds(10);
        return new DynamicBatchingOptions
        {
            Name = "main-ranker",
            FeatureWidth = width,
            MaxBatchRows = MaxBatchRows,
            MinAdaptiveBatchRows = MinAdaptiveBatchRows,
            MaxAdaptiveBatchRows = MaxAdaptiveBatchRows,
            MinBatchRows = Math.Min(8, MinAdaptiveBatchRows),
            MaxWait = MaxWait,
            MinAdaptiveWait = minWait,
            MaxAdaptiveWait = maxWait,
            QueueCapacityRows = QueueCapacityRows,
            WorkerCount = WorkerCount,
            AdaptationEnabled = AdaptationEnabled,
            TargetP99 = TargetP99,
            CloseAtOnceRequestRows = CloseAtOnceRequestRows,
        };
    }
}

/// <summary>The data annotations of <see cref="RankingModelOptions"/> plus the relations between settings.</summary>
[OptionsValidator]
public sealed partial class RankingModelOptionsValidator : IValidateOptions<RankingModelOptions>;

/// <summary>Cross-setting checks, run after the annotations.</summary>
public sealed class RankingModelOptionsRelations : IValidateOptions<RankingModelOptions>
{
    public ValidateOptionsResult Validate(string? name, RankingModelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var b = options.Batching;
        var failures = new List<string>();
        if (b.MinAdaptiveBatchRows > b.MaxAdaptiveBatchRows || b.MaxBatchRows < b.MinAdaptiveBatchRows || b.MaxBatchRows > b.MaxAdaptiveBatchRows)
        {
            failures.Add($"Batching:MaxBatchRows ({b.MaxBatchRows}) must lie within Batching:MinAdaptiveBatchRows..MaxAdaptiveBatchRows ({b.MinAdaptiveBatchRows}..{b.MaxAdaptiveBatchRows}).");
        }

        if (b.QueueCapacityRows < Math.Max(options.PreRankKeep, b.MaxAdaptiveBatchRows))
        {
            failures.Add($"Batching:QueueCapacityRows ({b.QueueCapacityRows}) must hold one request's rows (PreRankKeep {options.PreRankKeep}) and one largest batch ({b.MaxAdaptiveBatchRows}).");
        }

        if (!string.IsNullOrWhiteSpace(options.Path) && options.Path.IndexOfAny(System.IO.Path.GetInvalidPathChars()) >= 0)
        {
            failures.Add($"Path '{options.Path}' is not a valid folder path.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
