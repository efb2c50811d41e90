using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.Serving;
using RecSys.Retrieval.VectorIndex;
using RecSys.ServiceDefaults;
using RecSys.ServiceDefaults.Security;

namespace RecSys.Retrieval.Apis;

/// <summary>What one staged vector batch did.</summary>
/// <param name="Serving">The version is the one the index serves: the items went into the index too.</param>
public sealed record StagedVectors(string Version, int Stored, bool Serving);

/// <summary>One embedding version: the store's record of it and this process's latest activation of it.</summary>
public sealed record EmbeddingVersionResponse(EmbeddingVersionInfo Version, bool Serving, ActivationStatus? Activation);

/// <summary>The store's versions, the active pointer and what this process's index serves.</summary>
/// <param name="Active">The store's active version (empty: the unversioned keys).</param>
/// <param name="Serving">The embedding version of this process's index.</param>
public sealed record EmbeddingVersionsResponse(string Active, string Serving, bool Activating, IReadOnlyList<EmbeddingVersionInfo> Versions);

/// <summary>
/// Versioned publishing (the design's race condition 1): a version's item and user vectors are staged under its own namespace
/// while the current one serves, then <c>POST /v1/embeddings/{version}/activate</c> rebuilds the index from that version's item
/// vectors, checks its recall and swaps it in with the store's active pointer, or rejects it and keeps serving the previous one.
/// </summary>
public static class EmbeddingsApi
{
    /// <summary>10,000 vectors of up to 4096 floats as JSON text.</summary>
    private const long MaxWriteBodyBytes = 512L * 1024 * 1024;

    public static IEndpointRouteBuilder MapEmbeddingsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/embeddings").WithTags("Embedding versions").RequireAdmin();
        api.MapGet("/", List)
            .WithName("ListEmbeddingVersions")
            .WithSummary("The stored embedding versions, the active one and the one this index serves.");
        api.MapPut("/{version}/items", PutItems)
            .WithName("StageItemEmbeddings")
            .WithSummary("Stages item vectors (at most 10,000) under a version; into the serving version they also update the index.")
            .WithMaxRequestBodySize(MaxWriteBodyBytes);
        api.MapPut("/{version}/users", PutUsers)
            .WithName("StageUserEmbeddings")
            .WithSummary("Stages base user embeddings (at most 10,000) under a version.")
            .WithMaxRequestBodySize(MaxWriteBodyBytes);
        api.MapPost("/{version}/activate", Activate)
            .WithName("ActivateEmbeddingVersion")
            .WithSummary("Rebuilds the index from the version's item vectors, checks recall@10 against brute force and swaps it in with the active pointer, or rejects it; poll GET /v1/embeddings/{version}.");
        api.MapGet("/{version}", Get)
            .WithName("GetEmbeddingVersion")
            .WithSummary("A version's state (staged, active, rejected with the reason, retired), counts and latest activation.");
        api.MapDelete("/{version}", Delete)
            .WithName("DeleteEmbeddingVersion")
            .WithSummary("Deletes a version's vectors (never the active or serving one).");
        return app;
    }

    public static async Task<Ok<EmbeddingVersionsResponse>> List(VectorIndexManager index, EmbeddingStore store, CancellationToken cancellationToken) =>
        TypedResults.Ok(new EmbeddingVersionsResponse(
            await store.GetActiveVersionAsync(cancellationToken),
            index.EmbeddingVersion,
            index.IsActivating,
            await store.ListVersionsAsync(cancellationToken)));

    public static async Task<Results<Ok<StagedVectors>, ValidationProblem, ProblemHttpResult>> PutItems(
        string version,
        IndexItemsRequest request,
        VectorIndexManager index,
        EmbeddingStore store,
        CancellationToken cancellationToken)
    {
        var errors = VectorIndexApi.ValidateItems(request, index.Dimension);
        ValidateVersion(version, errors);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        if (version == index.EmbeddingVersion)
        {
            // Between publishes, item upserts go into the serving version: index and store together.
            if (index.IsActivating)
            {
                return VectorIndexApi.ActivationRunning();
            }

            await VectorIndexApi.UpsertServingAsync(request, index, store, cancellationToken);
            return TypedResults.Ok(new StagedVectors(version, request.Items!.Count, Serving: true));
        }

        await store.CreateVersionAsync(version, index.Dimension, cancellationToken);
        await store.SetItemsAsync(version, [.. request.Items!.Select(i => (i.ItemId!, i.Vector!))], cancellationToken);
        return TypedResults.Ok(new StagedVectors(version, request.Items!.Count, Serving: false));
    }

    public static async Task<Results<Ok<StagedVectors>, ValidationProblem>> PutUsers(
        string version,
        UserEmbeddingsRequest request,
        VectorIndexManager index,
        EmbeddingStore store,
        CancellationToken cancellationToken)
    {
        var errors = VectorIndexApi.ValidateUsers(request, index.Dimension);
        ValidateVersion(version, errors);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        await store.CreateVersionAsync(version, index.Dimension, cancellationToken);
        await store.SetUsersAsync(version, [.. request.Users!.Select(u => (u.UserId!, u.Vector!))], cancellationToken);
        return TypedResults.Ok(new StagedVectors(version, request.Users!.Count, Serving: version == index.EmbeddingVersion));
    }

    public static async Task<Results<Accepted<ActivationStatus>, ValidationProblem, NotFound<ProblemDetails>, ProblemHttpResult>> Activate(
        string version,
        VectorIndexManager index,
        EmbeddingStore store,
        CancellationToken cancellationToken)
    {
        if (InvalidVersion(version) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        if (await store.GetVersionAsync(version, cancellationToken) is null)
        {
            return NotFound(version);
        }

        try
        {
            var (status, started) = index.StartActivation(version);
            if (!started)
            {
                return TypedResults.Problem(
                    statusCode: StatusCodes.Status409Conflict,
                    title: "Another activation is running",
                    detail: $"Embedding version '{status.Version}' is being activated; retry when it has finished.");
            }

            return TypedResults.Accepted($"/v1/embeddings/{version}", status);
        }
        catch (NotSupportedException ex)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Activation is not available", detail: ex.Message);
        }
    }

    public static async Task<Results<Ok<EmbeddingVersionResponse>, ValidationProblem, NotFound<ProblemDetails>>> Get(
        string version,
        VectorIndexManager index,
        EmbeddingStore store,
        CancellationToken cancellationToken)
    {
        if (InvalidVersion(version) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var info = await store.GetVersionAsync(version, cancellationToken);
        return info is null
            ? NotFound(version)
            : TypedResults.Ok(new EmbeddingVersionResponse(info, version == index.EmbeddingVersion, index.ActivationOf(version)));
    }

    public static async Task<Results<NoContent, ValidationProblem, NotFound<ProblemDetails>, ProblemHttpResult>> Delete(
        string version,
        VectorIndexManager index,
        EmbeddingStore store,
        CancellationToken cancellationToken)
    {
        if (InvalidVersion(version) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        if (await store.GetVersionAsync(version, cancellationToken) is null)
        {
            return NotFound(version);
        }

        if (version == index.EmbeddingVersion || index.ActivationOf(version)?.State == ActivationState.Running)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "The version is in use",
                detail: $"Embedding version '{version}' is served by this index or being activated.");
        }

        try
        {
            await store.DeleteVersionAsync(version, cancellationToken);
        }
        catch (InvalidOperationException ex)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "The version is in use", detail: ex.Message);
        }

        return TypedResults.NoContent();
    }

    /// <summary>The validation errors of a version name alone, or null when it is valid.</summary>
    private static Dictionary<string, string[]>? InvalidVersion(string version)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        ValidateVersion(version, errors);
        return errors.Count > 0 ? errors : null;
    }

    private static void ValidateVersion(string version, Dictionary<string, string[]> errors)
    {
        if (!EmbeddingKeys.IsValidVersion(version))
        {
            errors["version"] = [$"Not a valid embedding version name: {EmbeddingKeys.VersionDescription}."];
        }
    }

    private static NotFound<ProblemDetails> NotFound(string version) => TypedResults.NotFound(new ProblemDetails
    {
        Status = StatusCodes.Status404NotFound,
        Title = "Unknown embedding version",
        Detail = $"No embedding version '{version}' is stored; stage its vectors first (PUT /v1/embeddings/{version}/items).",
    });
}
