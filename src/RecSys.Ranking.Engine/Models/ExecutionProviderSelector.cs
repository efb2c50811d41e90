using Microsoft.ML.OnnxRuntime;
using RecSys.Ranking.Serving;

namespace RecSys.Ranking.Models;

/// <summary>
/// Builds the session options of every model: CUDA when asked for and available, otherwise CPU. The first attempt decides
/// for the process (a host does not grow a GPU), so a CPU host pays the failed CUDA probe once, not per model.
/// </summary>
public sealed partial class ExecutionProviderSelector
{
    public const string Cuda = "CUDA";
    public const string Cpu = "CPU";

    private readonly ExecutionProviderPreference _preference;
    private readonly int _deviceId;
    private readonly int _intraOpThreads;
    private readonly Action<SessionOptions, int> _appendCuda;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private bool? _cudaWorks;

    public ExecutionProviderSelector(RankingModelOptions options, ILogger<ExecutionProviderSelector> logger)
        : this(options.ExecutionProvider, options.CudaDeviceId, options.IntraOpThreads, static (o, device) => o.AppendExecutionProvider_CUDA(device), logger)
    {
    }

    /// <param name="appendCuda">Registers the CUDA provider on the options; throws when CUDA or cuDNN cannot be loaded.</param>
    internal ExecutionProviderSelector(ExecutionProviderPreference preference, int deviceId, int intraOpThreads, Action<SessionOptions, int> appendCuda, ILogger logger)
    {
        _preference = preference;
        _deviceId = deviceId;
        _intraOpThreads = intraOpThreads;
        _appendCuda = appendCuda;
        _logger = logger;
    }

    /// <summary>The provider sessions run on; <see cref="Cpu"/> until the first session is created.</summary>
    public string Active => _cudaWorks == true ? Cuda : Cpu;

    /// <summary>Session options for one model, and the provider they select. The caller disposes the options.</summary>
    public SessionOptions Create(out string provider)
    {
        if (_preference == ExecutionProviderPreference.Auto && _cudaWorks != false)
        {
            var options = NewOptions();
            try
            {
                _appendCuda(options, _deviceId);
                Decide(true, null);
                provider = Cuda;
                return options;
            }
            catch (Exception ex)
            {
                // The CPU package has no CUDA provider; the GPU package throws when libcudart/cuDNN are missing. Either way: CPU.
                options.Dispose();
                Decide(false, ex.Message);
            }
        }
        else if (_cudaWorks is null)
        {
            Decide(false, "CPU was configured");
        }

        provider = Cpu;
        return NewOptions();
    }

    /// <summary>A session on CUDA failed to start (e.g. cuDNN missing at session creation): later sessions use the CPU.</summary>
    public void CudaFailed(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        lock (_gate)
        {
            _cudaWorks = false;
        }

        LogProviderFallback(_logger, exception.Message);
    }

    private void Decide(bool cuda, string? reason)
    {
        lock (_gate)
        {
            if (_cudaWorks is not null)
            {
                return;
            }

            _cudaWorks = cuda;
        }

        if (cuda)
        {
            LogProviderSelected(_logger, Cuda, $"device {_deviceId}");
        }
        else
        {
            LogProviderSelected(_logger, Cpu, reason ?? "no CUDA");
        }
    }

    private SessionOptions NewOptions() => new()
    {
        IntraOpNumThreads = _intraOpThreads,
        InterOpNumThreads = 1,
        ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
    };

    [LoggerMessage(EventId = 4100, Level = LogLevel.Information, Message = "ONNX Runtime execution provider: {Provider} ({Reason})")]
    private static partial void LogProviderSelected(ILogger logger, string provider, string reason);

    [LoggerMessage(EventId = 4101, Level = LogLevel.Warning, Message = "A CUDA session failed to start; models load on the CPU from now on: {Reason}")]
    private static partial void LogProviderFallback(ILogger logger, string reason);
}
