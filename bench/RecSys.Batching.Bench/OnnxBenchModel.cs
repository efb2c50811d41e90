using Microsoft.Extensions.Logging.Abstractions;
using RecSys.Learning.Ranking;
using RecSys.Ranking.Models;
using RecSys.Ranking.Serving;

namespace RecSys.Batching.Bench;

/// <summary>
/// A trained ranker (a release's <c>main-ranker/</c> or <c>student/</c> folder) in ONNX Runtime, opened the way Ranking opens
/// it (<see cref="RankerModel"/>: CPU provider here, one intra-op thread per session by default, OrtValues over pooled buffers).
/// </summary>
public sealed class OnnxBenchModel : BenchModel, IDisposable
{
    private readonly RankerModel _model;
    private readonly string _folder;

    private OnnxBenchModel(RankerModel model, string folder, int items)
        : base(items, model.Width, seed: 11)
    {
        _model = model;
        _folder = folder;
    }

    public static OnnxBenchModel Open(string folder, int items, int intraOpThreads)
    {
        var manifest = ModelManifest.Read(folder);
        var options = new RankingModelOptions { ExecutionProvider = ExecutionProviderPreference.Cpu, IntraOpThreads = intraOpThreads };
        var providers = new ExecutionProviderSelector(options, NullLogger<ExecutionProviderSelector>.Instance);
        // Runs as large as the batcher's largest batch (128 rows), so one batch is one session call.
        return new OnnxBenchModel(RankerModel.Open(folder, manifest, providers, maxRowsPerRun: 1024), folder, items);
    }

    public override string Description => $"ONNX Runtime (CPU), {_model.Width} features, {_folder}";

    public override void Score(ReadOnlySpan<float> features, int rows, Span<float> scores) =>
        _model.Score(features[..(rows * Width)], scores[..rows]);

    public void Dispose() => _model.Dispose();
}
