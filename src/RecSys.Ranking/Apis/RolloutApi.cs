using Microsoft.AspNetCore.Http.HttpResults;
using RecSys.Learning.Registry;
using RecSys.Ranking.Rollout;
using RecSys.Rollout;
using RecSys.ServiceDefaults.Security;

namespace RecSys.Ranking.Apis;

/// <summary>Body of <c>POST /v1/rollout</c>.</summary>
public sealed record StartRolloutRequest(string? Version);

/// <summary>Body of <c>POST /v1/rollout/promote</c> (a reason forces the stage past its gates) and <c>/rollback</c> (reason required).</summary>
public sealed record RolloutActionRequest(string? Reason);

/// <summary>One registered ranker release with its offline metrics, for <c>GET /v1/models</c>.</summary>
public sealed record ModelVersionDto(
    string Version,
    ModelState State,
    DateTimeOffset CreatedAt,
    DateTimeOffset RegisteredAt,
    DateTimeOffset? ActivatedAt,
    string? Reason,
    IReadOnlyDictionary<string, double> OfflineMetrics,
    TrainingRange Data,
    bool Loaded);

/// <summary>
/// The model registry and rollout API (admin): the registered ranker releases with their offline metrics, the rollout's
/// status, and the operations start, promote and roll back. A conflict with the rollout's state is a 409, a bad version
/// or missing reason a 400, both problem+json.
/// </summary>
public static class RolloutApi
{
    public static IEndpointRouteBuilder MapRolloutApi(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1").WithTags("Rollout").RequireAdmin();
        v1.MapGet("/models", ListModels)
            .WithName("ListRankerVersions")
            .WithSummary("Registered ranker releases with their state, offline metrics and training data range");
        v1.MapGet("/rollout", Status)
            .WithName("GetRolloutStatus")
            .WithSummary("The rollout: state, stage, candidate share, each gate's verdict and per-version metrics of the stage's window");
        v1.MapPost("/rollout", Start)
            .WithName("StartRollout")
            .WithSummary("Starts rolling out a registered release against production, in shadow");
        v1.MapPost("/rollout/promote", Promote)
            .WithName("PromoteRollout")
            .WithSummary("Advances the rollout one stage when its gates pass; with a reason, past them");
        v1.MapPost("/rollout/rollback", Rollback)
            .WithName("RollBackRollout")
            .WithSummary("Rolls the rollout back: traffic returns to production at once and the candidate is marked failed");
        return app;
    }

    public static Results<Ok<IReadOnlyList<ModelVersionDto>>, ProblemHttpResult> ListModels(RankingRollout rollout, RecSys.Ranking.Serving.RankerReleaseManager releases)
    {
        if (rollout.Registry is not { } registry)
        {
            return NoRegistry();
        }

        var served = releases.Current?.Release;
        var pinned = releases.PinnedVersions;
        IReadOnlyList<ModelVersionDto> list = [.. registry.List(ModelKinds.Rankers).Select(e => new ModelVersionDto(
            e.Version, e.State, e.CreatedAt, e.RegisteredAt, e.ActivatedAt, e.Reason, e.OfflineMetrics, e.Data,
            e.Version == served || pinned.Contains(e.Version)))];
        return TypedResults.Ok(list);
    }

    public static Results<Ok<RolloutStatus>, ProblemHttpResult> Status(RankingRollout rollout) =>
        rollout.Engine is { } engine ? TypedResults.Ok(engine.Status()) : NoRegistry();

    public static Results<Ok<RolloutStatus>, ValidationProblem, ProblemHttpResult> Start(StartRolloutRequest? request, RankingRollout rollout)
    {
        if (string.IsNullOrWhiteSpace(request?.Version))
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["version"] = ["version names the registered release to roll out."] });
        }

        return Run(rollout, () => rollout.Start(request.Version));
    }

    public static Results<Ok<RolloutStatus>, ValidationProblem, ProblemHttpResult> Promote(RolloutActionRequest? request, RankingRollout rollout)
    {
        if (request?.Reason is { } reason && string.IsNullOrWhiteSpace(reason))
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["reason"] = ["reason, when given, must say why the gates are overridden."] });
        }

        return Run(rollout, () => rollout.EngineOrThrow().Promote(request?.Reason));
    }

    public static Results<Ok<RolloutStatus>, ValidationProblem, ProblemHttpResult> Rollback(RolloutActionRequest? request, RankingRollout rollout)
    {
        if (string.IsNullOrWhiteSpace(request?.Reason))
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["reason"] = ["reason is required: it is recorded with the failed version."] });
        }

        return Run(rollout, () => rollout.EngineOrThrow().Rollback(request.Reason));
    }

    private static Results<Ok<RolloutStatus>, ValidationProblem, ProblemHttpResult> Run(RankingRollout rollout, Func<RolloutStatus> operation)
    {
        if (rollout.Engine is null)
        {
            return NoRegistry();
        }

        try
        {
            return TypedResults.Ok(operation());
        }
        catch (ArgumentException e)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["version"] = [e.Message] });
        }
        catch (InvalidOperationException e)
        {
            return TypedResults.Problem(title: "The rollout cannot do that now.", detail: e.Message, statusCode: StatusCodes.Status409Conflict);
        }
    }

    private static ProblemHttpResult NoRegistry() => TypedResults.Problem(
        title: "No model registry.",
        detail: "Ranking:Models:Path is not a model registry's rankers folder, so there are no versions to list or roll out.",
        statusCode: StatusCodes.Status404NotFound);
}
