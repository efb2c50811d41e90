using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Qdrant.Client;
using RecSys.FeatureStore.Serving;
using RecSys.Retrieval.Diagnostics;
using RecSys.Retrieval.Extensions;
using RecSys.Retrieval.Sources;
using RecSys.VectorSearch.Qdrant;

namespace RecSys.Retrieval.VectorIndex;

public static class VectorIndexExtensions
{
    /// <summary>
    /// The sharded item vector index: options (<c>Retrieval:VectorIndex</c>, snapshots under <c>Retrieval:DataDirectory</c>,
    /// validated at start), <see cref="VectorIndexManager"/> on the backend the configuration chooses (see
    /// <see cref="ResolveBackend"/>; Qdrant adds its client and a <c>qdrant</c> health check), its maintenance service (load at
    /// start, periodic incremental updates and snapshots), the <c>vector-index</c> health check, user embeddings and the
    /// collaborative candidate source. Needs <c>AddOnlineStoreClient()</c> (item metadata, recent items and base user embeddings are
    /// read from the online store).
    /// </summary>
    public static IHostApplicationBuilder AddVectorIndex(this IHostApplicationBuilder builder)
    {
        var backend = ResolveBackend(builder.Configuration);
        builder.Services.AddOptionsWithValidateOnStart<VectorIndexOptions, VectorIndexOptionsValidator>()
            .BindConfiguration(VectorIndexOptions.SectionName)
            .Configure<IConfiguration>((o, configuration) =>
            {
                if (string.IsNullOrWhiteSpace(o.DataDirectory))
                {
                    o.DataDirectory = configuration[VectorIndexOptions.DataDirectoryKey];
                }

                o.Backend = backend;
            });
        if (backend == VectorIndexBackend.Qdrant)
        {
            var timeout = builder.Configuration.GetSection(VectorIndexOptions.SectionName).GetValue("Qdrant:RequestTimeout", new QdrantBackendOptions().RequestTimeout);
            builder.AddQdrantClient(VectorIndexOptions.QdrantConnectionName, timeout);
        }

        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddMetrics();
        builder.Services.TryAddSingleton<RetrievalTelemetry>();
        builder.Services.TryAddSingleton(CreateManager);
        builder.Services.TryAddSingleton<IVectorIndexReader>(sp => sp.GetRequiredService<VectorIndexManager>());
        builder.Services.TryAddSingleton<UserEmbeddingResolver>();
        builder.Services.AddHostedService<VectorIndexMaintenanceService>();
        builder.Services.AddHealthChecks().AddCheck<VectorIndexHealthCheck>("vector-index", tags: ["ready"]);
        builder.Services.AddCandidateSource<CollaborativeSource>();
        if (builder.Configuration.GetValue<bool>(ShardFaultInjection.EnabledKey))
        {
            builder.Services.AddSingleton<ShardFaultInjection>();
        }

        return builder;
    }

    /// <summary>
    /// <c>Retrieval:VectorIndex:Backend</c> when set (embedded | qdrant); otherwise Qdrant when <c>ConnectionStrings:qdrant</c> is set
    /// (the AppHost's containers mode), else embedded. An unknown value or Qdrant without its connection string is a clear error.
    /// </summary>
    public static VectorIndexBackend ResolveBackend(IConfiguration configuration)
    {
        var configured = configuration[$"{VectorIndexOptions.SectionName}:{nameof(VectorIndexOptions.Backend)}"];
        var hasConnection = !string.IsNullOrWhiteSpace(configuration.GetConnectionString(VectorIndexOptions.QdrantConnectionName));
        VectorIndexBackend backend;
        if (string.IsNullOrWhiteSpace(configured))
        {
            backend = hasConnection ? VectorIndexBackend.Qdrant : VectorIndexBackend.Embedded;
        }
        else if (!Enum.TryParse(configured, ignoreCase: true, out backend) || !Enum.IsDefined(backend))
        {
            throw new InvalidOperationException($"{VectorIndexOptions.SectionName}:Backend must be 'Embedded' or 'Qdrant', not '{configured}'.");
        }

        if (backend == VectorIndexBackend.Qdrant && !hasConnection)
        {
            throw new InvalidOperationException(
                $"{VectorIndexOptions.SectionName}:Backend is Qdrant but ConnectionStrings:{VectorIndexOptions.QdrantConnectionName} is not set (Endpoint=http://host:6334).");
        }

        return backend;
    }

    private static VectorIndexManager CreateManager(IServiceProvider services)
    {
        var options = services.GetRequiredService<IOptions<VectorIndexOptions>>().Value;
        var metadata = services.GetRequiredService<ItemMetadataReader>();
        var telemetry = services.GetRequiredService<RetrievalTelemetry>();
        var time = services.GetRequiredService<TimeProvider>();
        var logger = services.GetRequiredService<ILogger<VectorIndexManager>>();
        VectorIndexLog.BackendChosen(logger, options.Backend == VectorIndexBackend.Qdrant ? VectorIndexOptions.QdrantBackendName : VectorIndexOptions.EmbeddedBackendName, options.Shards);
        if (options.Backend != VectorIndexBackend.Qdrant)
        {
            // Test-only: the fault injection wraps the shards only when configuration switched it on (it is then registered).
            var faults = services.GetService<ShardFaultInjection>();
            return new VectorIndexManager(options, metadata, telemetry, time, logger, faults is null ? null : faults.Decorate, services.GetService<EmbeddingStore>());
        }

        var collections = new QdrantShardCollections(services.GetRequiredService<QdrantClient>(), options.ToQdrant(), options.Shards);
        return new VectorIndexManager(options, metadata, telemetry, time, logger, (items, version) =>
        {
            var shards = new QdrantShardSet(collections, options);
            return (shards, new QdrantIndexLoader(shards, items, version, logger));
        }, services.GetService<EmbeddingStore>());
    }
}
