using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using RecSys.Ranking.Features;
using RecSys.Ranking.Models;

namespace RecSys.Ranking.Serving;

public static class ModelServingExtensions
{
    /// <summary>
    /// Registers the learned two-stage ranker: options (<c>Ranking:Models</c>, validated at start), provider selection, the
    /// release manager and its watcher, the ranker and the <c>ranking-models</c> health check. An
    /// <see cref="IRankingFeatureProvider"/> is registered elsewhere; without one no release loads.
    /// </summary>
    public static IServiceCollection AddRankingModelServing(this IServiceCollection services)
    {
        services.AddOptionsWithValidateOnStart<RankingModelOptions, RankingModelOptionsValidator>().BindConfiguration(RankingModelOptions.SectionName);
        services.AddSingleton<IValidateOptions<RankingModelOptions>, RankingModelOptionsRelations>();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<RankingTelemetry>();
        services.TryAddSingleton(sp => new ExecutionProviderSelector(
            sp.GetRequiredService<IOptions<RankingModelOptions>>().Value, sp.GetRequiredService<ILogger<ExecutionProviderSelector>>()));
        services.TryAddSingleton(sp => new RankerReleaseLoader(
            sp.GetRequiredService<ExecutionProviderSelector>(),
            sp.GetService<IRankingFeatureProvider>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<RankerReleaseLoader>>(),
            sp.GetService<System.Diagnostics.Metrics.IMeterFactory>(),
            sp.GetRequiredService<RankingTelemetry>()));
        services.TryAddSingleton<RankerReleaseManager>();
        services.TryAddSingleton(sp => new TwoStageRanker(
            sp.GetRequiredService<RankerReleaseManager>(),
            sp.GetService<IRankingFeatureProvider>(),
            sp.GetRequiredService<IOptionsMonitor<RankingModelOptions>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<RankingTelemetry>(),
            sp.GetService<RecSys.Ranking.Caching.ScoreCache>(),
            sp.GetService<RecSys.Ranking.PostProcessing.PostProcessingPipeline>(),
            sp.GetService<IPostProcessingInputs>()));
        services.AddHostedService<RankerReleaseWatcher>();
        services.AddHealthChecks().AddCheck<RankingModelsHealthCheck>(RankingModelsHealthCheck.Name);
        return services;
    }
}
