using Microsoft.Extensions.DependencyInjection.Extensions;
using RecSys.FeatureStore.Registry;
using RecSys.FeatureStore.Telemetry;

namespace RecSys.FeatureStore.OnlineStores;

/// <summary>DI wiring of the registry and the online feature store (needs an <c>IConnectionMultiplexer</c>: <c>AddOnlineStore</c>).</summary>
public static class OnlineStoreExtensions
{
    public static IHostApplicationBuilder AddOnlineFeatureStore(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptionsWithValidateOnStart<OnlineStoreOptions, OnlineStoreOptionsValidator>()
            .Bind(builder.Configuration.GetSection(OnlineStoreOptions.SectionName));
        builder.Services.AddSingleton(_ => new FeatureRegistry());
        builder.Services.TryAddSingleton<FeatureStoreTelemetry>();
        builder.Services.AddSingleton<IOnlineFeatureStore, RedisOnlineFeatureStore>();
        builder.Services.AddSingleton<OnlineFeatureReader>();
        return builder;
    }
}
