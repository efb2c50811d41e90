using System.Reflection;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Filters;
using BenchmarkDotNet.Jobs;
using RecSys.VectorSearch;

namespace RecSys.Benchmarks;

/// <summary>
/// One launch, 3 warm-up and 10 measured iterations of ~200 ms per case: the whole suite fits in ~10 minutes on 2 cores.
/// Allocations are exact whatever the iteration count; means carry the error column BenchmarkDotNet prints.
/// Cases that need an instruction set this machine lacks (<see cref="RequiresKernelAttribute"/>) are left out.
/// </summary>
public sealed class ShortRunConfig : ManualConfig
{
    public ShortRunConfig()
    {
        AddJob(Job.Default
            .WithId("ShortRun10")
            .WithLaunchCount(1)
            .WithWarmupCount(3)
            .WithIterationCount(10)
            .WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(200)));
        AddFilter(new SimpleFilter(benchmark =>
            benchmark.Descriptor.WorkloadMethod.GetCustomAttribute<RequiresKernelAttribute>() is not { } requirement
            || VectorKernels.Supported.Contains(requirement.Kernel)));
    }
}

/// <summary>Marks a benchmark that runs only where <see cref="Kernel"/> is hardware-accelerated.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RequiresKernelAttribute(KernelKind kernel) : Attribute
{
    public KernelKind Kernel { get; } = kernel;
}
