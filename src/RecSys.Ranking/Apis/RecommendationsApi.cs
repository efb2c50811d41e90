using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using RecSys.Batching;
using RecSys.Core.Contracts;
using RecSys.Core.Domain;
using RecSys.Ranking.Services;
using RecSys.ServiceDefaults.Security;

namespace RecSys.Ranking.Apis;

public static class RecommendationsApi
{
    public const int MaxContextLength = 256;

    public static IEndpointRouteBuilder MapRecommendationsApi(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1").WithTags("Recommendations");
        v1.MapGet("/recommendations/{userId}", GetRecommendations)
            .WithName("GetRecommendations")
            .WithSummary("Ranked recommendations for a user")
            .WithDescription("Candidates from every retrieval source, fused, filtered and ranked by the pre-ranker and the main ranker; metadata says which models answered, what was degraded and how long each stage took. 429 with Retry-After when the main ranker's queue is full.")
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .RequirePublicRead();
        return app;
    }

    public static async Task<Results<Ok<RecommendationResponse>, ValidationProblem, ProblemHttpResult>> GetRecommendations(
        string userId,
        string? count,
        string? context,
        RecommendationService service,
        IOptions<RankingOptions> options,
        HttpResponse httpResponse,
        CancellationToken cancellationToken)
    {
        var errors = Validate(userId, count, context, options.Value, out var n);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors, title: "The recommendation request is not valid.");
        }

        try
        {
            return TypedResults.Ok(await service.RecommendAsync(userId, n, context, cancellationToken));
        }
        catch (BatchQueueFullException full)
        {
            return QueueFull(full, httpResponse);
        }
    }

    /// <summary>429 with Retry-After (whole seconds, at least 1) when the main ranker cannot queue the request's rows.</summary>
    internal static ProblemHttpResult QueueFull(BatchQueueFullException full, HttpResponse httpResponse)
    {
        var seconds = Math.Max(1, (int)Math.Ceiling(full.RetryAfter.TotalSeconds));
        httpResponse.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return TypedResults.Problem(
            title: "The ranker is at capacity.",
            detail: $"The main ranker's queue is full ({full.QueuedRows} of {full.CapacityRows} rows); retry after {seconds} s.",
            statusCode: StatusCodes.Status429TooManyRequests);
    }

    /// <summary>Checks the route and query; <c>count</c> is taken as text so that "abc" is a 400 with a message, not a binding failure.</summary>
    internal static Dictionary<string, string[]> Validate(string userId, string? count, string? context, RankingOptions options, out int n)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        n = options.DefaultCount;
        if (!EntityIds.IsValid(userId))
        {
            errors["userId"] = [$"The user id must be {EntityIds.Description}."];
        }

        if (count is not null)
        {
            if (!int.TryParse(count, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out n)
                || n < 1 || n > options.MaxCount)
            {
                errors["count"] = [$"count must be a whole number from 1 to {options.MaxCount}."];
            }
        }

        if (context is { Length: > MaxContextLength })
        {
            errors["context"] = [$"context must be at most {MaxContextLength} characters."];
        }

        return errors;
    }
}
