using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Serving;
using RecSys.Retrieval.VectorIndex;
using RecSys.ServiceDefaults;
using RecSys.ServiceDefaults.Security;

namespace RecSys.Retrieval.Apis;

/// <summary>An item vector to add or update.</summary>
public sealed record IndexItemVector(string? ItemId, float[]? Vector);

public sealed record IndexItemsRequest(IReadOnlyList<IndexItemVector>? Items);

public sealed record DeleteIndexItemsRequest(IReadOnlyList<string>? ItemIds);

/// <summary>A search: <c>filter</c> may hold <c>categories</c> (any of), <c>creators</c> (one of) and <c>availableOnly</c>.</summary>
public sealed record IndexSearchRequest(float[]? Vector, int? K, int? EfSearch, JsonElement? Filter);

public sealed record IndexSearchResponse(
    IReadOnlyList<IndexHit> Hits,
    int ShardsAnswered,
    int ShardsTotal,
    double Coverage,
    bool Degraded,
    long IndexVersion,
    double ElapsedMs);

/// <summary>A base user embedding (the daily one of the two-level user embedding).</summary>
public sealed record UserVector(string? UserId, float[]? Vector);

public sealed record UserEmbeddingsRequest(IReadOnlyList<UserVector>? Users);

public sealed record UserEmbeddingsResponse(int Stored);

public static class VectorIndexApi
{
    public const int DefaultK = 10;

    /// <summary>Invalid entries of a batch reported one by one, up to this many.</summary>
    private const int MaxReported = 10;

    private const int MaxFilterValues = 1000;

    /// <summary>10,000 vectors of up to 4096 floats as JSON text.</summary>
    private const long MaxWriteBodyBytes = 512L * 1024 * 1024;

    public static IEndpointRouteBuilder MapVectorIndexApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/index").WithTags("Vector index").RequireAdmin();
        api.MapPut("/items", PutItems)
            .WithName("UpsertIndexItems")
            .WithSummary("Adds or updates item vectors (at most 10,000); small batches are applied at once, larger ones at the next incremental update.")
            .WithMaxRequestBodySize(MaxWriteBodyBytes);
        api.MapDelete("/items", DeleteItems)
            .WithName("DeleteIndexItems")
            .WithSummary("Deletes items from the index (soft delete: never returned again, dropped at the next rebuild).");
        api.MapPost("/search", Search)
            .WithName("SearchIndex")
            .WithSummary("Sharded k-nearest-neighbour search with optional metadata filters; reports shard coverage and the index version.");
        api.MapPost("/rebuild", StartRebuild)
            .WithName("RebuildIndex")
            .WithSummary("Starts a full rebuild in the background (each shard compacted and swapped atomically); poll the status.");
        api.MapPost("/apply", Apply)
            .WithName("ApplyIndexWrites")
            .WithSummary("Applies queued writes now instead of at the next incremental update.");
        api.MapGet("/status", Status)
            .WithName("GetIndexStatus")
            .WithSummary("Index version, vectors and deletes per shard, memory, dimension, last rebuild and last snapshot.");
        api.MapPut("/users", PutUsers)
            .WithName("UpsertUserEmbeddings")
            .WithSummary("Stores base user embeddings (at most 10,000) used by the collaborative source.")
            .WithMaxRequestBodySize(MaxWriteBodyBytes);
        return app;
    }

    public static async Task<Results<Ok<IndexWriteResult>, ValidationProblem, ProblemHttpResult>> PutItems(
        IndexItemsRequest request,
        VectorIndexManager index,
        EmbeddingStore embeddings,
        CancellationToken cancellationToken)
    {
        if (index.IsActivating)
        {
            return ActivationRunning();
        }

        var errors = ValidateItems(request, index.Dimension);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        return TypedResults.Ok(await UpsertServingAsync(request, index, embeddings, cancellationToken));
    }

    /// <summary>Writes validated items into the serving index and, under its embedding version, into the store.</summary>
    internal static async Task<IndexWriteResult> UpsertServingAsync(IndexItemsRequest request, VectorIndexManager index, EmbeddingStore embeddings, CancellationToken cancellationToken)
    {
        var vectors = request.Items!.Select(i => (i.ItemId!, i.Vector!)).ToList();
        var result = index.EnqueueUpserts(vectors);

        // The feature store serves them too, and moves users' embeddings towards the items they engage with.
        await embeddings.SetItemsAsync(index.EmbeddingVersion, vectors, cancellationToken);
        return await ApplyIfSmallAsync(result, vectors.Count, index, cancellationToken);
    }

    /// <summary>409: item writes wait while an activation builds the next index (they would land in the version being replaced).</summary>
    internal static ProblemHttpResult ActivationRunning() => TypedResults.Problem(
        statusCode: StatusCodes.Status409Conflict,
        title: "An embedding version is being activated",
        detail: "Item writes are refused while an activation builds and checks the next index; retry when GET /v1/embeddings shows none running.");

    internal static Dictionary<string, string[]> ValidateItems(IndexItemsRequest request, int dimension)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var items = request.Items;
        if (items is null || items.Count == 0)
        {
            errors["items"] = ["items must hold 1 to 10000 entries."];
        }
        else if (items.Count > VectorIndexOptions.MaxBatch)
        {
            errors["items"] = [$"items may hold at most {VectorIndexOptions.MaxBatch} entries."];
        }
        else
        {
            for (var i = 0; i < items.Count && errors.Count < MaxReported; i++)
            {
                if (items[i] is null)
                {
                    errors[$"items[{i}]"] = ["An entry is null."];
                    continue;
                }

                if (!EntityIds.IsValid(items[i].ItemId))
                {
                    errors[$"items[{i}].itemId"] = [$"Not a valid item id: {EntityIds.Description}."];
                }

                ValidateVector($"items[{i}].vector", items[i].Vector, dimension, errors);
            }
        }

        return errors;
    }

    public static async Task<Results<Ok<IndexWriteResult>, ValidationProblem>> DeleteItems(
        [FromBody] DeleteIndexItemsRequest request,
        VectorIndexManager index,
        EmbeddingStore embeddings,
        CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        ValidateIds("itemIds", request.ItemIds, errors);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var result = index.EnqueueDeletes(request.ItemIds!);
        await embeddings.DeleteItemsAsync(index.EmbeddingVersion, request.ItemIds!, cancellationToken);
        return TypedResults.Ok(await ApplyIfSmallAsync(result, request.ItemIds!.Count, index, cancellationToken));
    }

    private static async Task<IndexWriteResult> ApplyIfSmallAsync(IndexWriteResult queued, int count, VectorIndexManager index, CancellationToken cancellationToken)
    {
        if (count > index.ImmediateApplyMaxItems || !await index.TryApplyNowAsync(cancellationToken))
        {
            return queued;
        }

        return queued with { Applied = true, Pending = index.PendingWrites, IndexVersion = index.Version };
    }

    public static async Task<Results<Ok<IndexSearchResponse>, ValidationProblem>> Search(
        IndexSearchRequest request,
        VectorIndexManager index,
        CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        ValidateVector("vector", request.Vector, index.Dimension, errors);
        var k = request.K ?? DefaultK;
        if (k is < 1 or > VectorIndexOptions.MaxK)
        {
            errors["k"] = [$"k must be between 1 and {VectorIndexOptions.MaxK}."];
        }

        if (request.EfSearch is < 1 or > VectorIndexOptions.MaxK)
        {
            errors["efSearch"] = [$"efSearch must be between 1 and {VectorIndexOptions.MaxK}."];
        }

        var filter = ParseFilter(request.Filter, errors);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var result = await index.SearchAsync(request.Vector!, k, request.EfSearch ?? 0, filter, excludeKeys: null, cancellationToken);
        return TypedResults.Ok(new IndexSearchResponse(
            result.Hits, result.ShardsAnswered, result.ShardsTotal, result.Coverage, result.Degraded, result.IndexVersion, result.Elapsed.TotalMilliseconds));
    }

    public static Accepted<RebuildStatus> StartRebuild(VectorIndexManager index) =>
        TypedResults.Accepted("/v1/index/status", index.StartRebuild());

    public static async Task<Ok<IndexWriteResult>> Apply(VectorIndexManager index, CancellationToken cancellationToken)
    {
        var applied = await index.ApplyPendingAsync(cancellationToken);
        return TypedResults.Ok(new IndexWriteResult(applied, Applied: true, index.PendingWrites, [], index.Version));
    }

    public static Ok<IndexStatus> Status(VectorIndexManager index) => TypedResults.Ok(index.GetStatus());

    public static async Task<Results<Ok<UserEmbeddingsResponse>, ValidationProblem>> PutUsers(
        UserEmbeddingsRequest request,
        VectorIndexManager index,
        EmbeddingStore store,
        CancellationToken cancellationToken)
    {
        var errors = ValidateUsers(request, index.Dimension);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        await store.SetUsersAsync(index.EmbeddingVersion, [.. request.Users!.Select(u => (u.UserId!, u.Vector!))], cancellationToken);
        return TypedResults.Ok(new UserEmbeddingsResponse(request.Users!.Count));
    }

    internal static Dictionary<string, string[]> ValidateUsers(UserEmbeddingsRequest request, int dimension)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var users = request.Users;
        if (users is null || users.Count == 0)
        {
            errors["users"] = ["users must hold 1 to 10000 entries."];
        }
        else if (users.Count > VectorIndexOptions.MaxBatch)
        {
            errors["users"] = [$"users may hold at most {VectorIndexOptions.MaxBatch} entries."];
        }
        else
        {
            for (var i = 0; i < users.Count && errors.Count < MaxReported; i++)
            {
                if (users[i] is null)
                {
                    errors[$"users[{i}]"] = ["An entry is null."];
                    continue;
                }

                if (!EntityIds.IsValid(users[i].UserId))
                {
                    errors[$"users[{i}].userId"] = [$"Not a valid user id: {EntityIds.Description}."];
                }

                ValidateVector($"users[{i}].vector", users[i].Vector, dimension, errors);
            }
        }

        return errors;
    }

    internal static void ValidateVector(string field, float[]? vector, int dimension, Dictionary<string, string[]> errors)
    {
        if (vector is null)
        {
            errors[field] = ["A vector is required."];
            return;
        }

        if (vector.Length != dimension)
        {
            errors[field] = [$"The vector has {vector.Length} dimensions; the index has {dimension}."];
            return;
        }

        for (var d = 0; d < vector.Length; d++)
        {
            if (!float.IsFinite(vector[d]))
            {
                errors[field] = [$"Component {d} is not a finite number."];
                return;
            }
        }
    }

    private static void ValidateIds(string field, IReadOnlyList<string>? ids, Dictionary<string, string[]> errors)
    {
        if (ids is null || ids.Count == 0)
        {
            errors[field] = [$"{field} must hold 1 to {VectorIndexOptions.MaxBatch} ids."];
            return;
        }

        if (ids.Count > VectorIndexOptions.MaxBatch)
        {
            errors[field] = [$"{field} may hold at most {VectorIndexOptions.MaxBatch} ids."];
            return;
        }

        var reported = 0;
        for (var i = 0; i < ids.Count && reported < MaxReported; i++)
        {
            if (!EntityIds.IsValid(ids[i]))
            {
                errors[$"{field}[{i}]"] = [$"Not a valid id: {EntityIds.Description}."];
                reported++;
            }
        }
    }

    /// <summary>Reads the filter object; unknown fields and wrong types are errors (a typo must not silently widen a search).</summary>
    internal static ItemFilter? ParseFilter(JsonElement? element, Dictionary<string, string[]> errors)
    {
        if (element is not { } filter || filter.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return null;
        }

        if (filter.ValueKind != JsonValueKind.Object)
        {
            errors["filter"] = ["filter must be an object with categories, creators and/or availableOnly."];
            return null;
        }

        HashSet<string>? categories = null;
        HashSet<string>? creators = null;
        var availableOnly = false;
        foreach (var property in filter.EnumerateObject())
        {
            switch (property.Name)
            {
                case "categories":
                    categories = ParseNames("filter.categories", property.Value, errors);
                    break;
                case "creators":
                    creators = ParseNames("filter.creators", property.Value, errors);
                    break;
                case "availableOnly":
                    if (property.Value.ValueKind is JsonValueKind.True or JsonValueKind.False)
                    {
                        availableOnly = property.Value.GetBoolean();
                    }
                    else if (property.Value.ValueKind != JsonValueKind.Null)
                    {
                        errors["filter.availableOnly"] = ["availableOnly must be true or false."];
                    }

                    break;
                default:
                    errors["filter." + property.Name] = ["Unknown filter field; the filter accepts categories, creators and availableOnly."];
                    break;
            }
        }

        return new ItemFilter(categories, creators, availableOnly);
    }

    private static HashSet<string>? ParseNames(string field, JsonElement value, Dictionary<string, string[]> errors)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() > MaxFilterValues)
        {
            errors[field] = [$"{field} must be an array of at most {MaxFilterValues} names."];
            return null;
        }

        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var v in value.EnumerateArray())
        {
            if (v.ValueKind != JsonValueKind.String || v.GetString() is not { Length: > 0 and <= EntityIds.MaxLength } name)
            {
                errors[field] = [$"{field} must hold non-empty strings of at most {EntityIds.MaxLength} characters."];
                return null;
            }

            set.Add(name);
        }

        return set;
    }
}
