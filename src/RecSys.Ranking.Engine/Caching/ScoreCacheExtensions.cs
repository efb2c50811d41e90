using Microsoft.Extensions.DependencyInjection.Extensions;

namespace RecSys.Ranking.Caching;

/// <summary>DI wiring of the score cache.</summary>
public static class ScoreCacheExtensions
{
    /// <summary>Registers <see cref="ScoreCache"/> as a singleton with its options (<c>Ranking:ScoreCache</c>) validated at start.</summary>
    public static IServiceCollection AddScoreCache(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptionsWithValidateOnStart<ScoreCacheOptions, ScoreCacheOptionsValidator>()
            .Bind(configuration.GetSection(ScoreCacheOptions.SectionName));
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.TryAddSingleton<ScoreCache>();
        return services;
    }
}
