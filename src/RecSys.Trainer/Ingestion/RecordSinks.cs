using System.Buffers;
using System.Text.Json;
using RecSys.Core.Contracts;
using RecSys.Trainer.Commands;

namespace RecSys.Trainer.Ingestion;

/// <summary>Where generated or imported records go: a running FeatureServer, or JSONL files.</summary>
public interface IRecordSink
{
    /// <summary>For messages: the URL or folder.</summary>
    string Destination { get; }

    Task<SendResult> SendItemsAsync(IEnumerable<ItemDto> items, IProgressPhase progress, CancellationToken cancellationToken);
    Task<SendResult> SendEventsAsync(IEnumerable<EventDto> events, IProgressPhase progress, CancellationToken cancellationToken);
}

/// <summary>Options of sending to a FeatureServer.</summary>
public sealed record SendOptions
{
    public const int MaxBatchSize = 10_000;

    public int BatchSize { get; init; } = 5_000;
    public int Concurrency { get; init; } = 3;
    public OnErrorMode OnError { get; init; } = OnErrorMode.Skip;
}

/// <summary>Sends batches to the FeatureServer API with a few requests in flight.</summary>
public sealed class HttpRecordSink(FeatureServerClient client, SendOptions options) : IRecordSink
{
    public string Destination => client.BaseAddress?.ToString() ?? "(no address)";

    public Task<SendResult> SendItemsAsync(IEnumerable<ItemDto> items, IProgressPhase progress, CancellationToken cancellationToken) =>
        BatchPipeline.RunAsync("items", items, options.BatchSize, options.Concurrency, client.PutItemsAsync, options.OnError, progress, cancellationToken);

    public Task<SendResult> SendEventsAsync(IEnumerable<EventDto> events, IProgressPhase progress, CancellationToken cancellationToken) =>
        BatchPipeline.RunAsync("events", events, options.BatchSize, options.Concurrency, client.PostEventsAsync, options.OnError, progress, cancellationToken);
}

/// <summary>Writes <c>items.jsonl</c> and <c>events.jsonl</c> (one DTO per line, <see cref="JsonDefaults.Options"/>) into a folder.</summary>
public sealed class JsonlRecordSink(string directory) : IRecordSink
{
    public const string ItemsFile = "items.jsonl";
    public const string EventsFile = "events.jsonl";

    public string Destination => directory;

    public Task<SendResult> SendItemsAsync(IEnumerable<ItemDto> items, IProgressPhase progress, CancellationToken cancellationToken) =>
        WriteAsync("items", Path.Combine(directory, ItemsFile), items, progress, cancellationToken);

    public Task<SendResult> SendEventsAsync(IEnumerable<EventDto> events, IProgressPhase progress, CancellationToken cancellationToken) =>
        WriteAsync("events", Path.Combine(directory, EventsFile), events, progress, cancellationToken);

    private static async Task<SendResult> WriteAsync<T>(string phase, string path, IEnumerable<T> records, IProgressPhase progress, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        await using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16);
        var buffer = new ArrayBufferWriter<byte>(1 << 20);
        await using var writer = new Utf8JsonWriter(buffer);

        // One consumer: lines keep the order of the source. Serialization overlaps with generation or parsing.
        var result = await BatchPipeline.RunAsync(
            phase,
            records,
            2_000,
            1,
            async (batch, ct) =>
            {
                buffer.ResetWrittenCount();
                foreach (var record in batch)
                {
                    writer.Reset(buffer);
                    JsonSerializer.Serialize(writer, record, JsonDefaults.Options);
                    writer.Flush();
                    buffer.Write("\n"u8);
                }

                await file.WriteAsync(buffer.WrittenMemory, ct);
                return BatchOutcome.AllAccepted(batch.Count);
            },
            OnErrorMode.Stop,
            progress,
            cancellationToken);
        await file.FlushAsync(cancellationToken);
        return result;
    }
}
