using Microsoft.Extensions.DependencyInjection.Extensions;
using RecSys.FeatureStore.OnlineStores;

namespace RecSys.Ranking.Features;

/// <summary>DI wiring of the ranking feature provider over the online feature store.</summary>
public static class RankingFeatureExtensions
{
    /// <summary>
    /// Registers <see cref="IRankingFeatureProvider"/> (options <c>Ranking:Features</c>, validated at start); adds the online
    /// feature store when none is registered (it needs an <c>IConnectionMultiplexer</c>).
    /// </summary>
    public static IHostApplicationBuilder AddRankingFeatureProvider(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptionsWithValidateOnStart<RankingFeatureProviderOptions, RankingFeatureProviderOptionsValidator>()
            .Bind(builder.Configuration.GetSection(RankingFeatureProviderOptions.SectionName));
        if (!builder.Services.Any(s => s.ServiceType == typeof(IOnlineFeatureStore)))
        {
            builder.AddOnlineFeatureStore();
        }

        builder.Services.AddMetrics();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<IRankingFeatureProvider, FeatureStoreRankingFeatureProvider>();
        return builder;
    }
}
