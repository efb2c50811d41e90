using Microsoft.ML.OnnxRuntime;

namespace RecSys.Learning.Ranking;

/// <summary>
/// Scores rows with an exported ranker in ONNX Runtime (CPU). Input and output tensors are OrtValues created once per
/// batch size over pre-allocated arrays and bound through an IoBinding, so a call allocates nothing: rows are copied
/// into the bound input buffer, the session runs, the first output is copied out.
/// </summary>
public sealed class OnnxScorer : IDisposable
{
    private readonly InferenceSession _session;
    private readonly SessionOptions _sessionOptions;
    private readonly RunOptions _runOptions = new();
    private readonly Dictionary<int, OnnxIoBuffers> _bindings = [];
    private readonly string _outputName;
    private bool _disposed;

    /// <param name="intraOpThreads">0 lets ONNX Runtime choose (one per core); 1 for single-threaded serving.</param>
    public OnnxScorer(string modelPath, string outputName, int intraOpThreads = 1)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelPath);
        ArgumentOutOfRangeException.ThrowIfNegative(intraOpThreads);
        if (!File.Exists(modelPath))
        {
            throw new FileNotFoundException($"ONNX model {modelPath} not found.", modelPath);
        }

        _sessionOptions = new SessionOptions { IntraOpNumThreads = intraOpThreads, InterOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        _session = new InferenceSession(modelPath, _sessionOptions);
        if (!_session.InputMetadata.TryGetValue(OnnxExport.InputName, out var input) || input.Dimensions.Length != 2)
        {
            throw new ArgumentException($"Model {modelPath} has no 2-D input '{OnnxExport.InputName}'.", nameof(modelPath));
        }

        if (!_session.OutputMetadata.ContainsKey(outputName))
        {
            throw new ArgumentException($"Model {modelPath} has no output '{outputName}' (has {string.Join(", ", _session.OutputMetadata.Keys)}).", nameof(outputName));
        }

        FeatureCount = input.Dimensions[1];
        _outputName = outputName;
    }

    public int FeatureCount { get; }

    /// <summary>Scores rows (row-major, FeatureCount wide) in one run of the model; the first call at a batch size prepares its buffers.</summary>
    public void Score(ReadOnlySpan<float> rows, Span<float> scores)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var n = scores.Length;
        if (n < 1 || rows.Length != (long)n * FeatureCount)
        {
            throw new ArgumentException($"Expected {n} >= 1 rows of {FeatureCount} features, got {rows.Length} values.", nameof(rows));
        }

        if (!_bindings.TryGetValue(n, out var binding))
        {
            binding = new OnnxIoBuffers(_session, _outputName, n, FeatureCount);
            _bindings.Add(n, binding);
        }

        rows.CopyTo(binding.Input);
        _session.RunWithBinding(_runOptions, binding.Binding);
        binding.Output.AsSpan(0, n).CopyTo(scores);
    }

    /// <summary>Scores any number of rows in batches of <paramref name="batchSize"/>.</summary>
    public void ScoreAll(ReadOnlySpan<float> rows, Span<float> scores, int batchSize = 1024)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        for (var start = 0; start < scores.Length; start += batchSize)
        {
            var count = Math.Min(batchSize, scores.Length - start);
            Score(rows.Slice(start * FeatureCount, count * FeatureCount), scores.Slice(start, count));
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var binding in _bindings.Values)
        {
            binding.Dispose();
        }

        _session.Dispose();
        _sessionOptions.Dispose();
        _runOptions.Dispose();
    }
}
