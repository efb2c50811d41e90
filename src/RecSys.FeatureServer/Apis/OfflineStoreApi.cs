using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using RecSys.FeatureStore.Consistency;
using RecSys.FeatureStore.OfflineStore;
using RecSys.ServiceDefaults;
using RecSys.ServiceDefaults.Security;

namespace RecSys.FeatureServer.Apis;

/// <summary>
/// <c>POST /v1/training-sets</c>, <c>POST /v1/offline/backfill</c>, <c>GET /v1/offline/backfill/{id}</c>,
/// <c>GET /v1/consistency</c> and <c>POST /v1/consistency/reconcile</c>.
/// </summary>
public static class OfflineStoreApi
{
    public const string ParquetContentType = "application/vnd.apache.parquet";
    public const string CsvContentType = "text/csv";

    public static IEndpointRouteBuilder MapOfflineStoreApi(this IEndpointRouteBuilder app)
    {
        var maxBody = app.ServiceProvider.GetRequiredService<IOptions<OfflineStoreOptions>>().Value.MaxRequestBodyBytes;
        var api = app.MapGroup("/v1").WithTags("Offline store").RequireAdmin();
        api.MapPost("/training-sets", CreateTrainingSetAsync)
            .WithName("CreateTrainingSet")
            .WithSummary("Point-in-time training set (Parquet) of labels and features; labels as JSON, or a CSV/Parquet body or multipart file with ?features=a,b")
            .Accepts<TrainingSetRequest>("application/json", CsvContentType, ParquetContentType, "multipart/form-data")
            .Produces(StatusCodes.Status200OK, contentType: ParquetContentType)
            .DisableAntiforgery()
            .WithMaxRequestBodySize(maxBody);
        api.MapPost("/offline/backfill", StartBackfill)
            .WithName("StartBackfill")
            .WithSummary("Recompute the stored features from the whole event log into the offline store (runs in the background)");
        api.MapGet("/offline/backfill/{id}", GetBackfill)
            .WithName("GetBackfill")
            .WithSummary("Progress of a backfill");
        api.MapGet("/consistency", GetConsistencyAsync)
            .WithName("GetConsistency")
            .WithSummary("Latest online/offline consistency report (runs a check when none exists or refresh=true)");
        api.MapPost("/consistency/reconcile", ReconcileAsync)
            .WithName("ReconcileConsistency")
            .WithSummary("Write online the offline values whose event time is newer (atomic event-time check)");
        return app;
    }

    public static async Task<Results<FileStreamHttpResult, ValidationProblem, ProblemHttpResult>> CreateTrainingSetAsync(
        HttpRequest request,
        string? features,
        OfflineFeaturePlan plan,
        TrainingSetBuilder builder,
        IOptions<OfflineStoreOptions> options,
        CancellationToken cancellationToken)
    {
        IReadOnlyList<string>? names;
        IReadOnlyList<TrainingLabel>? labels;
        var contentType = request.ContentType ?? "application/json";
        try
        {
            if (request.HasJsonContentType() || request.ContentType is null)
            {
                var body = await request.ReadFromJsonAsync<TrainingSetRequest>(cancellationToken);
                if (body is null)
                {
                    return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["body"] = ["The body must be a JSON object with features and labels."] });
                }

                names = body.Features ?? Split(features);
                labels = body.Labels;
            }
            else if (request.HasFormContentType)
            {
                var form = await request.ReadFormAsync(cancellationToken);
                var file = form.Files.GetFile("labels") ?? form.Files.FirstOrDefault();
                if (file is null)
                {
                    return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["labels"] = ["Upload the labels as a file field 'labels' (CSV or Parquet)."] });
                }

                names = Split(form["features"].ToString() is { Length: > 0 } f ? f : features);
                var parquet = file.ContentType.StartsWith(ParquetContentType, StringComparison.OrdinalIgnoreCase)
                    || file.FileName.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase);
                await using var stream = file.OpenReadStream();
                labels = await ReadLabelsFileAsync(stream, parquet, cancellationToken);
            }
            else if (contentType.StartsWith(CsvContentType, StringComparison.OrdinalIgnoreCase)
                || contentType.StartsWith(ParquetContentType, StringComparison.OrdinalIgnoreCase))
            {
                names = Split(features);
                labels = await ReadLabelsFileAsync(request.Body, contentType.StartsWith(ParquetContentType, StringComparison.OrdinalIgnoreCase), cancellationToken);
            }
            else
            {
                return TypedResults.Problem(
                    statusCode: StatusCodes.Status415UnsupportedMediaType,
                    title: "Unsupported labels format.",
                    detail: $"Send application/json, {CsvContentType}, {ParquetContentType} or multipart/form-data; got {contentType}.");
            }
        }
        catch (JsonException ex)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["body"] = [$"The body is not a valid training-set request: {ex.Message}"] });
        }
        catch (FormatException ex)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["labels"] = [ex.Message] });
        }

        var max = options.Value.MaxLabels;
        if (labels is { } all && all.Count > max)
        {
            return TypedResults.Problem(
                statusCode: StatusCodes.Status413PayloadTooLarge,
                title: "Too many labels.",
                detail: $"A training set takes at most {max:N0} labels; got {all.Count:N0}. Split the request.");
        }

        if (TrainingSetRequests.Validate(names, labels, plan, out var query) is { } errors)
        {
            return TypedResults.ValidationProblem(errors, title: "The training-set request is invalid.");
        }

        var path = Path.Combine(Path.GetTempPath(), "recsys-training-set-" + Guid.NewGuid().ToString("N") + ".parquet");
        try
        {
            await builder.BuildAsync(query!.Labels, query.Features, path, cancellationToken);
        }
        catch
        {
            File.Delete(path);
            throw;
        }

        var output = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        return TypedResults.File(output, ParquetContentType, "training-set.parquet");
    }

    public static Results<Accepted<BackfillJob>, ProblemHttpResult> StartBackfill(BackfillJobs jobs)
    {
        if (!jobs.TryStart(out var job))
        {
            return TypedResults.Problem(
                statusCode: StatusCodes.Status409Conflict,
                title: "A backfill is running.",
                detail: $"Backfill {job.Id} is running; follow it at /v1/offline/backfill/{job.Id}.",
                extensions: new Dictionary<string, object?> { ["jobId"] = job.Id });
        }

        return TypedResults.Accepted($"/v1/offline/backfill/{job.Id}", job);
    }

    public static Results<Ok<BackfillJob>, ProblemHttpResult> GetBackfill(string id, BackfillJobs jobs) =>
        jobs.Get(id) is { } job
            ? TypedResults.Ok(job)
            : TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such backfill.", detail: $"No backfill has id '{id}'.");

    public static async Task<Ok<ConsistencyReport>> GetConsistencyAsync(bool? refresh, ConsistencyChecker checker, CancellationToken cancellationToken) =>
        TypedResults.Ok(refresh != true && checker.Latest is { } latest ? latest : await checker.CheckAsync(cancellationToken));

    public static async Task<Ok<ReconcileReport>> ReconcileAsync(ConsistencyChecker checker, CancellationToken cancellationToken) =>
        TypedResults.Ok(await checker.ReconcileAsync(cancellationToken));

    private static async Task<List<TrainingLabel>> ReadLabelsFileAsync(Stream body, bool parquet, CancellationToken cancellationToken)
    {
        var path = Path.Combine(Path.GetTempPath(), "recsys-labels-" + Guid.NewGuid().ToString("N") + (parquet ? ".parquet" : ".csv"));
        try
        {
            await using (var file = File.Create(path))
            {
                await body.CopyToAsync(file, cancellationToken);
            }

            return await TrainingSetRequests.ReadFileAsync(path, parquet, cancellationToken);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static string[]? Split(string? text) =>
        string.IsNullOrWhiteSpace(text) ? null : text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
