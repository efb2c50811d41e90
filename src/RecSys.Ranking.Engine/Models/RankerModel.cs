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

    /// <summary>
    /// Opens <c>model.onnx</c> of a validated manifest and checks the graph against it: input <c>features</c> as wide as the
    /// feature list, the ranked output present. One zero row is scored, so a graph that loads but cannot run fails here.
    /// </summary>
    public static RankerModel Open(string directory, ModelManifest manifest, ExecutionProviderSelector providers, int maxRowsPerRun)
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

    /// <summary>Scores row-major rows (<see cref="Width"/> floats each) in runs of at most <see cref="MaxRowsPerRun"/>.</summary>
    public void Score(ReadOnlySpan<float> rows, Span<float> scores)
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
