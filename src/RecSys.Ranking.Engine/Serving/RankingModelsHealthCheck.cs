using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace RecSys.Ranking.Serving;

/// <summary>
/// Reports what ranks: the release and model versions, the ONNX Runtime execution provider and what scores the pre-ranker, as health data. The
/// fused-score fallback is reported healthy (the service answers every request) with <c>degraded = model</c> in the data.
/// </summary>
public sealed class RankingModelsHealthCheck(RankerReleaseManager releases, IOptionsMonitor<RankingModelOptions> options) : IHealthCheck
{
    public const string Name = "ranking-models";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["provider"] = releases.ExecutionProvider,
            ["mainStage"] = options.CurrentValue.MainStage,
        };
        if (releases.LastError is { } error)
        {
            data["lastLoadError"] = error;
        }

        if (releases.Current is { } info)
        {
            data["release"] = info.Release;
            data["preRanker"] = info.PreRankerVersion;
            data["mainVersion"] = info.MainVersion;
            data["provider"] = info.Provider;
            if (releases.TryAcquire(out var lease))
            {
                using (lease)
                {
                    // compiled-trees or onnxruntime (with why the trees were not compiled).
                    data["preRankerEngine"] = lease.Release.PreRanker.Engine;
                    if (lease.Release.PreRanker.CompileRefusal is { } refusal)
                    {
                        data["preRankerCompileRefusal"] = refusal;
                    }
                }
            }
            return Task.FromResult(HealthCheckResult.Healthy(
                $"release {info.Release}: pre-ranker {info.PreRankerVersion}, {info.MainStage} {info.MainVersion} on {info.Provider}", data));
        }

        data["degraded"] = "model";
        return Task.FromResult(HealthCheckResult.Healthy($"no ranker release loaded: the {RankerReleaseManager.FusedScoreFallback} serves", data));
    }
}
