using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using RecSys.Candidates;
using RecSys.FeatureStore.Serving;
using RecSys.Retrieval.Diagnostics;
using RecSys.Retrieval.Services;
using RecSys.Retrieval.Sources;

namespace RecSys.Retrieval.Extensions;

public static class RetrievalServiceExtensions
{
    /// <summary>
    /// Options (<c>Retrieval</c> section, validated at start), the four store-backed sources (trending, recent_similar,
    /// creator, content), the eligibility filter, the retriever and its telemetry. Needs <c>AddOnlineStoreClient()</c>.
    /// </summary>
    public static IHostApplicationBuilder AddRetrieval(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptionsWithValidateOnStart<RetrievalOptions, RetrievalOptionsValidator>()
            .BindConfiguration(RetrievalOptions.SectionName);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RetrievalOptions>, RetrievalSourcesValidator>());

        builder.Services.AddCandidateSource<TrendingSource>();
        builder.Services.AddCandidateSource<RecentSimilarSource>();
        builder.Services.AddCandidateSource<CreatorSource>();
        builder.Services.AddCandidateSource<ContentSource>();

        // Trending, category, creator and co-engagement lists and the unavailable set, shared by every request for seconds.
        builder.Services.AddOptionsWithValidateOnStart<SharedReadCacheOptions, SharedReadCacheOptionsValidator>()
            .BindConfiguration(SharedReadCacheOptions.SectionName);
        builder.Services.TryAddSingleton<SharedReadCache>();

        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddMetrics();
        builder.Services.TryAddSingleton<RetrievalTelemetry>();
        builder.Services.TryAddSingleton<CandidateRetriever>();
        builder.Services.AddHostedService<RetrievalWarmup>();
        return builder;
    }

    /// <summary>
    /// Registers a candidate source. It takes part in retrieval and fusion once <c>Retrieval:Sources:&lt;Name&gt;</c> gives it
    /// a budget and a weight (the spec's five sources have defaults).
    /// </summary>
    public static IServiceCollection AddCandidateSource<TSource>(this IServiceCollection services)
        where TSource : class, ICandidateSource
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ICandidateSource, TSource>());
        return services;
    }
}
