using Microsoft.Extensions.Options;
using RecSys.Ranking.Feedback;
using RecSys.Rollout;
using RecSys.ServiceDefaults.Security;

namespace RecSys.Ranking.Rollout;

public static class RolloutExtensions
{
    /// <summary>
    /// Key of an optional <see cref="TimeProvider"/> for the rollout alone (stage durations, the gate timer, latencies it
    /// records); the default one otherwise. Tests put a fake clock here without stopping the batcher's real timers.
    /// </summary>
    public const string ClockKey = "rollout";

    private static TimeProvider Clock(IServiceProvider sp) => sp.GetKeyedService<TimeProvider>(ClockKey) ?? sp.GetRequiredService<TimeProvider>();

    /// <summary>
    /// The rollout of ranker releases and the feedback loop: the engine's options (<c>Ranking:Rollout</c>), the serving side,
    /// impression logging and the click reader (<c>Ranking:Feedback</c>), all validated at start.
    /// </summary>
    public static IServiceCollection AddRankingRollout(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        // Checked when the engine is built at start (RolloutOptions.Validate), after the state folder defaults to the registry's.
        services.AddOptions<RolloutOptions>().Bind(configuration.GetSection(RolloutServingOptions.SectionName));
        services.AddOptionsWithValidateOnStart<RolloutServingOptions, RolloutServingOptionsValidator>().BindConfiguration(RolloutServingOptions.SectionName);
        services.AddSingleton(sp => ActivatorUtilities.CreateInstance<RankingRollout>(sp, Clock(sp)));
        services.AddHostedService(sp => sp.GetRequiredService<RankingRollout>());
        services.AddSingleton(sp => ActivatorUtilities.CreateInstance<RolloutServing>(sp, Clock(sp)));

        services.AddOptionsWithValidateOnStart<FeedbackOptions, FeedbackOptionsValidator>().BindConfiguration(FeedbackOptions.SectionName);
        services.AddHttpClient(ImpressionLogger.HttpClientName, (sp, http) =>
        {
            var feedback = sp.GetRequiredService<IOptions<FeedbackOptions>>().Value;
            if (!string.IsNullOrEmpty(feedback.ApiKey))
            {
                http.DefaultRequestHeaders.Add(ApiKeyAuthenticationHandler.HeaderName, feedback.ApiKey);
            }
        });
        services.AddSingleton<ImpressionLogger>();
        services.AddHostedService(sp => sp.GetRequiredService<ImpressionLogger>());
        services.AddSingleton(sp => ActivatorUtilities.CreateInstance<FeedbackPoller>(sp, Clock(sp)));
        services.AddHostedService(sp => sp.GetRequiredService<FeedbackPoller>());
        return services;
    }
}
