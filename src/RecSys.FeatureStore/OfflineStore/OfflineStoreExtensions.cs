using Microsoft.Extensions.DependencyInjection.Extensions;
using RecSys.FeatureStore.Consistency;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.Registry;
using RecSys.FeatureStore.Telemetry;

namespace RecSys.FeatureStore.OfflineStore;

/// <summary>DI wiring of the offline store, the batch processor, training sets and the consistency job.</summary>
public static class OfflineStoreExtensions
{
    /// <summary>
    /// Registers the offline store (options <c>FeatureServer:OfflineStore</c>), the sink and its flusher, the capture the
    /// stream processor calls, the batch processor and its jobs, the training-set builder, and the consistency checker
    /// with its periodic job (options <c>FeatureServer:Consistency</c>). Needs the FeatureServer's registrations
    /// (<see cref="FeatureRegistry"/>, <see cref="IEventLog"/>, the online store connection).
    /// </summary>
    public static IHostApplicationBuilder AddOfflineStore(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptionsWithValidateOnStart<OfflineStoreOptions, OfflineStoreOptionsValidator>()
            .Bind(builder.Configuration.GetSection(OfflineStoreOptions.SectionName));
        builder.Services.AddOptionsWithValidateOnStart<ConsistencyOptions, ConsistencyOptionsValidator>()
            .Bind(builder.Configuration.GetSection(ConsistencyOptions.SectionName));

        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(sp => new OfflineFeaturePlan(sp.GetRequiredService<FeatureRegistry>()));
        builder.Services.AddSingleton<IOfflineFeatureStore, ParquetOfflineStore>();
        builder.Services.TryAddSingleton<FeatureStoreTelemetry>();
        builder.Services.AddSingleton<OfflineFeatureSink>();
        builder.Services.AddSingleton<IOfflineFeatureSink>(sp => sp.GetRequiredService<OfflineFeatureSink>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<OfflineFeatureSink>());
        builder.Services.AddSingleton<OfflineCapture>();
        builder.Services.AddSingleton<BackfillProcessor>();
        builder.Services.AddSingleton<BackfillJobs>();
        builder.Services.AddSingleton<TrainingSetBuilder>();
        builder.Services.AddSingleton<ConsistencyChecker>();
        builder.Services.AddHostedService<ConsistencyMonitor>();
        return builder;
    }
}
