using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace RecSys.Ranking.PostProcessing;

/// <summary>DI wiring of ranking post-processing.</summary>
public static class PostProcessingExtensions
{
    /// <summary>Registers <see cref="PostProcessingPipeline"/> with its options (<c>Ranking:PostProcessing</c>) validated at start.</summary>
    public static IServiceCollection AddRankingPostProcessing(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptionsWithValidateOnStart<PostProcessingOptions, PostProcessingOptionsValidator>()
            .Bind(configuration.GetSection(PostProcessingOptions.SectionName));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PostProcessingOptions>, PostProcessingRulesValidator>());
        services.TryAddSingleton<PostProcessingPipeline>();
        return services;
    }
}
