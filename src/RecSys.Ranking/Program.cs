using RecSys.Core.Contracts;
using RecSys.FeatureStore.Serving;
using RecSys.Ranking;
using RecSys.Ranking.Apis;
using RecSys.Ranking.Caching;
using RecSys.Ranking.Features;
using RecSys.Ranking.PostProcessing;
using RecSys.Ranking.Rollout;
using RecSys.Ranking.Serving;
using RecSys.Ranking.Services;
using RecSys.ServiceDefaults;
using RecSys.ServiceDefaults.Security;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddRecSysSecurity();
builder.Services.ConfigureHttpJsonOptions(o => JsonDefaults.Apply(o.SerializerOptions));
// Ranking still answers without the store (the last-known popular list), so losing it degrades rather than fails.
builder.AddOnlineStoreClient(storeDownStatus: Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Degraded);
builder.Services.AddOpenApi();
builder.Services.AddOptionsWithValidateOnStart<RankingOptions, RankingOptionsValidator>().BindConfiguration(RankingOptions.SectionName);
builder.Services.AddHttpClient<RetrievalClient>((sp, http) =>
    {
        var ranking = sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<RankingOptions>>().Value;
        http.BaseAddress = ranking.RetrievalBaseAddress;
        if (!string.IsNullOrEmpty(ranking.RetrievalApiKey))
        {
            http.DefaultRequestHeaders.Add(ApiKeyAuthenticationHandler.HeaderName, ranking.RetrievalApiKey);
        }
    })
    .AddRetrievalResilience();
builder.Services.AddOptionsWithValidateOnStart<FallbackOptions, FallbackOptionsValidator>().BindConfiguration(FallbackOptions.SectionName);
builder.Services.AddSingleton<LastKnownPopularList>();
builder.Services.AddHostedService<LastKnownPopularRefresher>();
builder.Services.AddHealthChecks().AddCheck<LastKnownPopularHealthCheck>(LastKnownPopularHealthCheck.Name);
builder.Services.AddSingleton<TrendingFallback>();
builder.Services.AddSingleton<IRanker, FusedScoreRanker>();
builder.AddRankingFeatureProvider();
builder.Services.AddScoreCache(builder.Configuration);
builder.Services.AddRankingPostProcessing(builder.Configuration);
builder.Services.AddSingleton<IPostProcessingInputs, StorePostProcessingInputs>();
builder.Services.AddRankingModelServing();
builder.Services.AddRankingRollout(builder.Configuration);
builder.Services.AddOptionsWithValidateOnStart<LoadDegradationOptions, LoadDegradationOptionsValidator>().BindConfiguration(LoadDegradationOptions.SectionName);
builder.Services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<LoadDegradationOptions>, LoadDegradationStepsValidator>();
builder.Services.AddSingleton<CandidateBudget>();
builder.Services.AddHealthChecks().AddCheck<CandidateBudgetHealthCheck>(CandidateBudgetHealthCheck.Name);
builder.Services.AddScoped<RecommendationService>();

var app = builder.Build();
app.UseProblemDetailsForErrors();
app.UseRecSysSecurity();

// The API description is public: it lists routes and shapes, never data.
app.MapOpenApi().AllowAnonymous();
app.MapDefaultEndpoints();
app.MapRecommendationsApi();
app.MapRolloutApi();
app.Run();

public partial class Program;
