using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using RecSys.Core.Domain;

namespace RecSys.FeatureStore.EventLog;

/// <summary>
/// One record of the event log: an interaction event or an item upsert. The log is the source of truth;
/// the online store is a view rebuilt by replaying it in order.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "k")]
[JsonDerivedType(typeof(EventRecord), "e")]
[JsonDerivedType(typeof(ItemUpsertRecord), "i")]
public abstract record LogRecord;

/// <summary>A user interaction.</summary>
public sealed record EventRecord(InteractionEvent Event) : LogRecord;

/// <summary>An insert or replacement of a catalog item.</summary>
public sealed record ItemUpsertRecord(CatalogItem Item) : LogRecord;

/// <summary>
/// A record read back from the log, with its offset in its <see cref="Partition"/> and the offset of the record after it
/// (byte addresses for the embedded log, whose only partition is 0).
/// </summary>
public readonly record struct LogEntry(long Position, long NextPosition, LogRecord Record)
{
    /// <summary>The partition the record was read from (0 for the embedded log).</summary>
    public int Partition { get; init; }
}

/// <summary>Records read in one call; resume from <see cref="NextPosition"/>.</summary>
public sealed record LogBatch(IReadOnlyList<LogEntry> Entries, LogPosition NextPosition);

/// <summary>
/// Compact UTF-8 JSON encoding of log records: the wire conventions (camelCase, enums as camelCase names) with settings
/// owned here, so that the durable format does not change with the HTTP options.
/// </summary>
public static class LogRecordSerializer
{
    private static readonly JsonSerializerOptions Options = CreateOptions();

    public static byte[] Serialize(LogRecord record) => JsonSerializer.SerializeToUtf8Bytes(record, Options);

    public static LogRecord Deserialize(ReadOnlySpan<byte> utf8) =>
        JsonSerializer.Deserialize<LogRecord>(utf8, Options)
        ?? throw new JsonException("A log record decoded to null.");

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
        };
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase));
        options.MakeReadOnly();
        return options;
    }
}
