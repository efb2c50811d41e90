using Microsoft.Extensions.Logging.Abstractions;
using RecSys.Ranking.Models;
using RecSys.Ranking.Serving;

namespace RecSys.Ranking.Tests.Models;

public sealed class ProviderSelectionTests
{
    [Fact]
    public void Auto_falls_back_to_the_cpu_when_the_cuda_provider_cannot_be_added()
    {
        // The real call: this build references the CPU package (or the GPU one on a host without CUDA); both throw here.
        var selector = new ExecutionProviderSelector(new RankingModelOptions(), NullLogger<ExecutionProviderSelector>.Instance);

        using var options = selector.Create(out var provider);

        Assert.Equal(ExecutionProviderSelector.Cpu, provider);
        Assert.Equal(ExecutionProviderSelector.Cpu, selector.Active);
    }

    [Fact]
    public void A_failed_cuda_probe_is_not_repeated_for_later_sessions()
    {
        var attempts = 0;
        var selector = new ExecutionProviderSelector(ExecutionProviderPreference.Auto, 0, 1,
            (_, _) => { attempts++; throw new InvalidOperationException("libcudnn.so.9: cannot open shared object file"); },
            NullLogger.Instance);

        using var first = selector.Create(out var p1);
        using var second = selector.Create(out var p2);

        Assert.Equal([ExecutionProviderSelector.Cpu, ExecutionProviderSelector.Cpu], [p1, p2]);
        Assert.Equal(1, attempts);
    }

    [Fact]
    public void Cuda_is_reported_when_the_provider_is_added_on_the_configured_device()
    {
        var devices = new List<int>();
        var selector = new ExecutionProviderSelector(ExecutionProviderPreference.Auto, 3, 1, (_, device) => devices.Add(device), NullLogger.Instance);

        using var options = selector.Create(out var provider);

        Assert.Equal(ExecutionProviderSelector.Cuda, provider);
        Assert.Equal(ExecutionProviderSelector.Cuda, selector.Active);
        Assert.Equal([3], devices);
    }

    [Fact]
    public void A_cuda_session_that_fails_to_start_moves_later_sessions_to_the_cpu()
    {
        var selector = new ExecutionProviderSelector(ExecutionProviderPreference.Auto, 0, 1, (_, _) => { }, NullLogger.Instance);
        using (selector.Create(out _))
        {
        }

        selector.CudaFailed(new InvalidOperationException("CUDA failure 100: no CUDA-capable device is detected"));
        using var options = selector.Create(out var provider);

        Assert.Equal(ExecutionProviderSelector.Cpu, provider);
        Assert.Equal(ExecutionProviderSelector.Cpu, selector.Active);
    }

    [Fact]
    public void Cpu_preference_never_asks_for_cuda()
    {
        var asked = false;
        var selector = new ExecutionProviderSelector(ExecutionProviderPreference.Cpu, 0, 1, (_, _) => asked = true, NullLogger.Instance);

        using var options = selector.Create(out var provider);

        Assert.Equal(ExecutionProviderSelector.Cpu, provider);
        Assert.False(asked);
    }
}
