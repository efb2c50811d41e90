using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using RecSys.Retrieval.Extensions;
using RecSys.Retrieval.Sources;

namespace RecSys.Retrieval.VectorIndex;

public static class VectorIndexExtensions
{
    /// <summary>
    /// The sharded item vector index: options (<c>Retrieval:VectorIndex</c>, snapshots under <c>Retrieval:DataDirectory</c>,
    /// validated at start), <see cref="VectorIndexManager"/>, its maintenance service (load at start, periodic incremental
    /// updates and snapshots), the <c>vector-index</c> health check, user embeddings and the collaborative candidate source.
    /// Needs <c>AddOnlineStoreClient()</c> (item metadata, recent items and base user embeddings are read from the online store).
    /// </summary>
    public static IHostApplicationBuilder AddVectorIndex(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<VectorIndexOptions>()
            .BindConfiguration(VectorIndexOptions.SectionName)
            .Configure<IConfiguration>((o, configuration) =>
            {
                if (string.IsNullOrWhiteSpace(o.DataDirectory))
                {
                    o.DataDirectory = configuration[VectorIndexOptions.DataDirectoryKey];
                }
            })
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<VectorIndexOptions>, CollaborativeOptionsValidator>());

        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddMetrics();
        builder.Services.TryAddSingleton<VectorIndexTelemetry>();
        builder.Services.TryAddSingleton<VectorIndexManager>();
        builder.Services.TryAddSingleton<UserEmbeddingResolver>();
        builder.Services.AddHostedService<VectorIndexMaintenanceService>();
        builder.Services.AddHealthChecks().AddCheck<VectorIndexHealthCheck>("vector-index", tags: ["ready"]);
        builder.Services.AddCandidateSource<CollaborativeSource>();
        return builder;
    }

    /// <summary>Data annotations of the nested <see cref="CollaborativeOptions"/> (ValidateDataAnnotations checks the top level only).</summary>
    private sealed class CollaborativeOptionsValidator : IValidateOptions<VectorIndexOptions>
    {
        public ValidateOptionsResult Validate(string? name, VectorIndexOptions options)
        {
            var results = new List<ValidationResult>();
            if (options.Collaborative is null)
            {
                return ValidateOptionsResult.Fail($"{VectorIndexOptions.SectionName}:Collaborative is empty.");
            }

            return Validator.TryValidateObject(options.Collaborative, new ValidationContext(options.Collaborative), results, validateAllProperties: true)
                ? ValidateOptionsResult.Success
                : ValidateOptionsResult.Fail(results.Select(r => $"{VectorIndexOptions.SectionName}:Collaborative: {r.ErrorMessage}"));
        }
    }
}
