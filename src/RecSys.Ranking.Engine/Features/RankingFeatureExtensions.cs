using Microsoft.Extensions.DependencyInjection.Extensions;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using RecSys.FeatureStore.OnlineStores;
using RecSys.FeatureStore.Registry;
using RecSys.FeatureStore.Serving;

namespace RecSys.Ranking.Features;

/// <summary>DI wiring of the ranking feature provider over the online feature store.</summary>
public static class RankingFeatureExtensions
{
    /// <summary>
    /// Registers <see cref="IRankingFeatureProvider"/> (options <c>Ranking:Features</c>, validated at start) with the in-process
    /// <see cref="ItemFeatureTable"/> and its background refresher (unless the refresh interval is zero); adds the online
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
        builder.Services.TryAddSingleton<ItemCatalogReader>();
        builder.Services.AddSingleton<ItemFeatureTable>();
        builder.Services.AddHostedService<ItemFeatureTableRefresher>();
        builder.Services.AddSingleton<IRankingFeatureProvider>(sp => new FeatureStoreRankingFeatureProvider(
            sp.GetRequiredService<IOnlineFeatureStore>(), sp.GetRequiredService<FeatureRegistry>(), sp.GetRequiredService<IOptions<RankingFeatureProviderOptions>>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<IMeterFactory>(),
            sp.GetRequiredService<IOptions<RankingFeatureProviderOptions>>().Value.ItemTableRefresh > TimeSpan.Zero ? sp.GetRequiredService<ItemFeatureTable>() : null));
        return builder;
    }
}
