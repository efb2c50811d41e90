using Microsoft.AspNetCore.Http.HttpResults;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Deletion;
using RecSys.FeatureStore.Serving;
using RecSys.ServiceDefaults.Security;

namespace RecSys.FeatureServer.Apis;

/// <summary>
/// <c>DELETE /v1/users/{id}</c> (admin): deletes a user (<see cref="UserDeletion"/>). The tombstone is durable before the
/// answer; the online state and embeddings of every version are gone when it comes; offline rows, exports and training
/// sets exclude the user from then on. Idempotent: a second call answers 200 with <c>alreadyDeleted</c> and zero counts.
/// </summary>
public static class UsersApi
{
    public static IEndpointRouteBuilder MapUsersApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/users").WithTags("Users");
        api.MapDelete("/{id}", DeleteUserAsync)
            .WithName("DeleteUser")
            .WithSummary("Deletes a user: online state and embeddings removed, offline rows tombstoned, excluded from exports and training")
            .RequireAdmin();
        return app;
    }

    public static async Task<Results<Ok<UserDeletionResult>, ValidationProblem, ProblemHttpResult>> DeleteUserAsync(
        string id, UserDeletion deletion, CancellationToken cancellationToken)
    {
        if (!EntityIds.IsValid(id))
        {
            return TypedResults.ValidationProblem(
                new Dictionary<string, string[]> { ["id"] = [$"A user id is {EntityIds.Description}."] },
                title: "The user id is invalid.");
        }

        try
        {
            return TypedResults.Ok(await deletion.DeleteAsync(id, cancellationToken));
        }
        catch (OnlineStoreUnavailableException ex)
        {
            // The tombstone is already durable: a retry (or the periodic sync) finishes the online part.
            return TypedResults.Problem(
                title: "The online store is unavailable.",
                detail: $"The user is tombstoned, but their online state could not be removed yet ({ex.Message}). Retry the request; the FeatureServer also retries within {DeletedUsersSync.Interval.TotalSeconds:0} s.",
                statusCode: StatusCodes.Status503ServiceUnavailable);
        }
    }
}
