using RecSys.FeatureStore.Registry;

namespace RecSys.FeatureStore.OnlineStores;

/// <summary>DI wiring of the registry and the online feature store (needs an <c>IConnectionMultiplexer</c>: <c>AddOnlineStore</c>).</summary>
public static class OnlineStoreExtensions
{
    public static IHostApplicationBuilder AddOnlineFeatureStore(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<OnlineStoreOptions>()
            .Bind(builder.Configuration.GetSection(OnlineStoreOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton(_ => new FeatureRegistry());
        builder.Services.AddSingleton<OnlineStoreMetrics>();
        builder.Services.AddSingleton<IOnlineFeatureStore, RedisOnlineFeatureStore>();
        builder.Services.AddSingleton<OnlineFeatureReader>();
        return builder;
    }
}
