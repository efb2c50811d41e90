using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using RecSys.Core.Contracts;
using RecSys.FeatureStore.EventLog;
using RecSys.ServiceDefaults.Security;

namespace RecSys.FeatureServer.Apis;

/// <summary>
/// <c>GET /v1/export/events</c> and <c>GET /v1/export/items</c>: the event log up to its end position at the time of the
/// request, streamed as NDJSON of the ingestion DTOs (<see cref="EventDto"/>, <see cref="ItemDto"/>). NDJSON because it is
/// the format <c>trainer generate --out</c> and <c>import --out</c> already write and <c>trainer ingest</c> reads, so one
/// reader serves files and a live system; it streams line by line in constant memory on both sides and needs no new
/// dependency. (Parquet would be smaller, but needs whole row groups buffered and the training data is read once.)
/// The end position is returned in <see cref="EndPositionHeader"/>, so a caller can tell which prefix it received.
/// </summary>
public static class ExportApi
{
    public const string NdjsonContentType = "application/x-ndjson";
    public const string EndPositionHeader = "X-Log-End-Position";

    /// <summary>Bytes of lines gathered before a write to the response.</summary>
    private const int FlushBytes = 64 * 1024;

    public static IEndpointRouteBuilder MapExportApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/export").WithTags("Export").RequireAdmin();
        api.MapGet("/events", ExportEventsAsync)
            .WithName("ExportEvents")
            .WithSummary("Streams the logged events up to the current end of the log as NDJSON, optionally only event times in [from, until), optionally only after a position an earlier export returned")
            .WithDescription("Poll with after=<the X-Log-End-Position of the previous answer> to read only new events; after=end returns none and just the current end position, to start polling from now.")
            .Produces(StatusCodes.Status200OK, contentType: NdjsonContentType);
        api.MapGet("/items", ExportItemsAsync)
            .WithName("ExportItems")
            .WithSummary("Streams the logged item upserts up to the current end of the log as NDJSON (a later line for an id replaces an earlier one)")
            .Produces(StatusCodes.Status200OK, contentType: NdjsonContentType);
        return app;
    }

    public static async Task<Results<PushStreamHttpResult, ValidationProblem>> ExportEventsAsync(
        HttpContext context, IEventLog log, DateTimeOffset? from, DateTimeOffset? until, string? after, CancellationToken cancellationToken)
    {
        var window = new ExportWindow(from, until);
        if (window.Validate() is { } error)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["until"] = [error] });
        }

        var start = LogPosition.Start;
        var fromEnd = string.Equals(after, "end", StringComparison.Ordinal);
        if (!fromEnd && after is not null)
        {
            try
            {
                start = LogPosition.Parse(after);
            }
            catch (FormatException)
            {
                return TypedResults.ValidationProblem(new Dictionary<string, string[]>
                {
                    ["after"] = ["after must be a log position returned in X-Log-End-Position (comma-separated offsets) or 'end'."],
                });
            }
        }

        var end = await log.GetEndPositionAsync(cancellationToken);
        context.Response.Headers[EndPositionHeader] = end.ToString();
        if (fromEnd)
        {
            start = end;
        }

        return TypedResults.Stream(
            stream => WriteLinesAsync(stream, EventLogExport.EventsAsync(log, start, end, window, cancellationToken), e => e.ToDto(), cancellationToken),
            NdjsonContentType);
    }

    public static async Task<PushStreamHttpResult> ExportItemsAsync(HttpContext context, IEventLog log, CancellationToken cancellationToken)
    {
        var end = await log.GetEndPositionAsync(cancellationToken);
        context.Response.Headers[EndPositionHeader] = end.ToString();
        return TypedResults.Stream(
            stream => WriteLinesAsync(stream, EventLogExport.ItemsAsync(log, end, cancellationToken), i => i.ToDto(), cancellationToken),
            NdjsonContentType);
    }

    private static async Task WriteLinesAsync<TRecord, TDto>(Stream body, IAsyncEnumerable<TRecord> records, Func<TRecord, TDto> toDto, CancellationToken cancellationToken)
    {
        // Lines are built in memory and written asynchronously in chunks: Kestrel refuses synchronous writes.
        var buffer = new ArrayBufferWriter<byte>(FlushBytes + (16 * 1024));
        await using var writer = new Utf8JsonWriter(buffer);
        await foreach (var record in records.WithCancellation(cancellationToken))
        {
            writer.Reset(buffer);
            JsonSerializer.Serialize(writer, toDto(record), JsonDefaults.Options);
            writer.Flush();
            buffer.Write("\n"u8);
            if (buffer.WrittenCount >= FlushBytes)
            {
                await body.WriteAsync(buffer.WrittenMemory, cancellationToken);
                buffer.ResetWrittenCount();
            }
        }

        await body.WriteAsync(buffer.WrittenMemory, cancellationToken);
        await body.FlushAsync(cancellationToken);
    }
}
