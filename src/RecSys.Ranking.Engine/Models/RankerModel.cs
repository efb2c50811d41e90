using System.Collections.Concurrent;
using System.Numerics;
using Microsoft.ML.OnnxRuntime;
using RecSys.Learning.Ranking;

namespace RecSys.Ranking.Models;

/// <summary>
/// One stage of a release loaded into an ONNX Runtime session. Inputs and outputs are OrtValues over pooled arrays bound
/// through an IoBinding, one set per run shape (power-of-two rows up to <see cref="MaxRowsPerRun"/>), rented per run so that
/// concurrent callers never share a buffer and a warm run allocates nothing.
/// </summary>
public sealed class RankerModel : IDisposable
{
    private const int SmallestRun = 8;

    /// <summary>What scores a model: ONNX Runtime's session, or the pre-ranker's trees compiled from the same graph.</summary>
    public const string OnnxRuntimeEngine = "onnxruntime";

    public const string CompiledTreesEngine = "compiled-trees";

    /// <summary>Rows the compiled trees are compared with ONNX Runtime on when the model loads.</summary>
    public const int VerificationRows = 4096;

    /// <summary>Largest score difference from ONNX Runtime on the verification rows that lets compiled trees serve.</summary>
    public const double CompiledTolerance = 1e-5;

    private CompiledTreeEnsemble? _compiled;

    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly ConcurrentDictionary<int, ConcurrentBag<OnnxIoBuffers>> _buffers = new();
    private readonly Func<int, ConcurrentBag<OnnxIoBuffers>> _newBag = static _ => [];
    private int _disposed;

    private RankerModel(ModelManifest manifest, string directory, InferenceSession session, string outputName, string provider, int maxRowsPerRun)
    {
        Manifest = manifest;
        Directory = directory;
        _session = session;
        OutputName = outputName;
        ExecutionProvider = provider;
        Features = [.. manifest.Features.Select(f => f.Name)];
        MaxRowsPerRun = (int)BitOperations.RoundUpToPowerOf2((uint)maxRowsPerRun);
    }

    public ModelManifest Manifest { get; }

    public string Kind => Manifest.Kind;

    public string Version => Manifest.Version;

    /// <summary>The stage folder the model was loaded from (calibration.json of a main ranker lies beside it).</summary>
    public string Directory { get; }

    /// <summary>Input columns, in the manifest's order.</summary>
    public IReadOnlyList<string> Features { get; }

    public int Width => Features.Count;

    public string OutputName { get; }

    public string ExecutionProvider { get; }

    public int MaxRowsPerRun { get; }

    /// <summary><see cref="CompiledTreesEngine"/> when the compiled trees score, else <see cref="OnnxRuntimeEngine"/>.</summary>
    public string Engine => _compiled is null ? OnnxRuntimeEngine : CompiledTreesEngine;

    /// <summary>Why the trees were not compiled or not used (null when they serve or were not asked for).</summary>
    public string? CompileRefusal { get; private set; }

    /// <summary>Largest |compiled - ONNX Runtime| score difference on the verification rows, when the trees were compiled.</summary>
    public double? CompiledMaxDifference { get; private set; }

    /// <summary>Trees in the compiled ensemble (0 when ONNX Runtime scores).</summary>
    public int CompiledTrees => _compiled?.TreeCount ?? 0;

    /// <summary>
    /// Opens <c>model.onnx</c> of a validated manifest and checks the graph against it: input <c>features</c> as wide as the
    /// feature list, the ranked output present. One zero row is scored, so a graph that loads but cannot run fails here.
    /// With <paramref name="compileTrees"/>, a pre-ranker's tree ensemble is also compiled (<see cref="CompiledTreeEnsemble"/>)
    /// and serves when it scores <see cref="VerificationRows"/> rows within <see cref="CompiledTolerance"/> of ONNX Runtime;
    /// otherwise ONNX Runtime serves and <see cref="CompileRefusal"/> says why.
    /// </summary>
    public static RankerModel Open(string directory, ModelManifest manifest, ExecutionProviderSelector providers, int maxRowsPerRun, bool compileTrees = false)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(providers);
        var path = Path.Combine(directory, ModelPackage.OnnxFile);
        var outputName = ModelKinds.ScoreOutput(manifest.Kind);
        var session = CreateSession(path, providers, out var provider);
        RankerModel? model = null;
        try
        {
            if (!session.InputMetadata.TryGetValue(OnnxExport.InputName, out var input) || input.Dimensions.Length != 2 || input.Dimensions[1] != manifest.Features.Count)
            {
                throw new InvalidDataException($"{path}: the graph has no 2-D input '{OnnxExport.InputName}' {manifest.Features.Count} features wide (the manifest's feature count).");
            }

            if (!session.OutputMetadata.ContainsKey(outputName))
            {
                throw new InvalidDataException($"{path}: a {manifest.Kind} must have the output '{outputName}'; the graph has {string.Join(", ", session.OutputMetadata.Keys)}.");
            }

            model = new RankerModel(manifest, directory, session, outputName, provider, maxRowsPerRun);
            Span<float> probe = stackalloc float[1];
            model.Score(new float[manifest.Features.Count], probe);
            if (compileTrees && manifest.Kind == ModelKinds.PreRanker)
            {
                model.CompileTrees(path);
            }

            return model;
        }
        catch
        {
            if (model is not null)
            {
                model.Dispose();
            }
            else
            {
                session.Dispose();
            }

            throw;
        }
    }

    /// <summary>
    /// Scores row-major rows (<see cref="Width"/> floats each): with the compiled trees when they serve, otherwise with ONNX
    /// Runtime in runs of at most <see cref="MaxRowsPerRun"/>.
    /// </summary>
    public void Score(ReadOnlySpan<float> rows, Span<float> scores)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (_compiled is { } compiled)
        {
            compiled.Score(rows, scores);
            return;
        }

        ScoreWithOnnxRuntime(rows, scores);
    }

    /// <summary>Scores with the ONNX Runtime session whatever serves (the reference the compiled trees are checked against).</summary>
    public void ScoreWithOnnxRuntime(ReadOnlySpan<float> rows, Span<float> scores)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (rows.Length != (long)scores.Length * Width)
        {
            throw new ArgumentException($"Expected {scores.Length} rows of {Width} features, got {rows.Length} values.", nameof(rows));
        }

        for (var start = 0; start < scores.Length; start += MaxRowsPerRun)
        {
            var count = Math.Min(MaxRowsPerRun, scores.Length - start);
            Run(rows.Slice(start * Width, count * Width), scores.Slice(start, count));
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var bag in _buffers.Values)
        {
            while (bag.TryTake(out var buffers))
            {
                buffers.Dispose();
            }
        }

        _session.Dispose();
        _runOptions.Dispose();
    }

    private void CompileTrees(string path)
    {
        CompiledTreeEnsemble? compiled;
        string? reason;
        try
        {
            compiled = CompiledTreeEnsemble.TryCompile(path, Width, out reason);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or IndexOutOfRangeException)
        {
            // A graph the compiler does not expect (e.g. repeated attributes) stays on ONNX Runtime; it loaded there.
            compiled = null;
            reason = ex.Message;
        }

        if (compiled is null)
        {
            CompileRefusal = reason;
            return;
        }

        var rows = compiled.VerificationRows(VerificationRows, seed: 17);
        var expected = new float[VerificationRows];
        var actual = new float[VerificationRows];
        ScoreWithOnnxRuntime(rows, expected);
        compiled.Score(rows, actual);
        var worst = 0.0;
        for (var i = 0; i < expected.Length; i++)
        {
            // NaN on either side (never from finite leaves) counts as a mismatch.
            var diff = expected[i] == actual[i] ? 0 : Math.Abs((double)expected[i] - actual[i]);
            worst = double.IsNaN(diff) ? double.PositiveInfinity : Math.Max(worst, diff);
        }

        CompiledMaxDifference = worst;
        if (worst <= CompiledTolerance)
        {
            _compiled = compiled;
        }
        else
        {
            CompileRefusal = string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"the compiled trees differ from ONNX Runtime by up to {worst:G3} on {VerificationRows} verification rows (tolerance {CompiledTolerance:G3})");
        }
    }

    private static InferenceSession CreateSession(string path, ExecutionProviderSelector providers, out string provider)
    {
        using var options = providers.Create(out provider);
        try
        {
            return new InferenceSession(path, options);
        }
        catch (Exception ex) when (provider == ExecutionProviderSelector.Cuda)
        {
            // The CUDA provider registered but could not start (e.g. cuDNN missing): this model and the next ones run on the CPU.
            providers.CudaFailed(ex);
            using var cpu = providers.Create(out provider);
            return new InferenceSession(path, cpu);
        }
    }

    private void Run(ReadOnlySpan<float> rows, Span<float> scores)
    {
        var n = scores.Length;
        // Few distinct shapes: runs are padded to a power of two (at least SmallestRun rows); padded rows are zeros and ignored.
        var shape = Math.Max(SmallestRun, (int)BitOperations.RoundUpToPowerOf2((uint)n));
        var bag = _buffers.GetOrAdd(shape, _newBag);
        if (!bag.TryTake(out var buffers))
        {
            buffers = new OnnxIoBuffers(_session, OutputName, shape, Width);
        }

        try
        {
            rows.CopyTo(buffers.Input);
            buffers.Input.AsSpan(rows.Length).Clear();
            _session.RunWithBinding(_runOptions, buffers.Binding);
            buffers.Output.AsSpan(0, n).CopyTo(scores);
        }
        finally
        {
            if (Volatile.Read(ref _disposed) == 0)
            {
                bag.Add(buffers);
            }
            else
            {
                buffers.Dispose();
            }
        }
    }
}
