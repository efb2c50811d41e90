using BenchmarkDotNet.Attributes;
using RecSys.VectorSearch;

namespace RecSys.Benchmarks;

/// <summary>
/// One inner product at 128 and 256 dimensions: the plain scalar loop (baseline), then <see cref="VectorKernels"/> with
/// each instruction set this machine accelerates, and the dispatching entry point the index calls. Cases for an
/// instruction set the machine lacks are filtered out (see <see cref="RequiresKernelAttribute"/>).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ShortRunConfig))]
public class VectorKernelBenchmarks
{
    private float[] _a = [];
    private float[] _b = [];

    [Params(128, 256)]
    public int Dimension { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(5);
        _a = [.. Enumerable.Range(0, Dimension).Select(_ => (float)(random.NextDouble() - 0.5))];
        _b = [.. Enumerable.Range(0, Dimension).Select(_ => (float)(random.NextDouble() - 0.5))];
        var expected = ScalarLoop();
        foreach (var kind in VectorKernels.Supported)
        {
            var actual = VectorKernels.Dot(_a, _b, kind);
            if (Math.Abs(actual - expected) > 1e-4f * Dimension)
            {
                throw new InvalidOperationException($"Kernel {kind} gives {actual}, the scalar loop {expected}.");
            }
        }
    }

    [Benchmark(Baseline = true)]
    public float ScalarLoop()
    {
        var sum = 0f;
        for (var i = 0; i < _a.Length; i++)
        {
            sum += _a[i] * _b[i];
        }

        return sum;
    }

    [Benchmark]
    public float Dot_Scalar() => VectorKernels.Dot(_a, _b, KernelKind.Scalar);

    [Benchmark]
    [RequiresKernel(KernelKind.Vector128)]
    public float Dot_Vector128() => VectorKernels.Dot(_a, _b, KernelKind.Vector128);

    [Benchmark]
    [RequiresKernel(KernelKind.Vector256)]
    public float Dot_Vector256() => VectorKernels.Dot(_a, _b, KernelKind.Vector256);

    [Benchmark]
    [RequiresKernel(KernelKind.Vector512)]
    public float Dot_Vector512() => VectorKernels.Dot(_a, _b, KernelKind.Vector512);

    /// <summary>The widest accelerated kernel, chosen at JIT time (what HNSW and PQ use).</summary>
    [Benchmark]
    public float Dot_Active() => VectorKernels.Dot(_a, _b);
}
