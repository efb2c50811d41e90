using System.Text.Json;
using RecSys.Core.Contracts;
using RecSys.Trainer.Import;

namespace RecSys.Trainer.Ingestion;

/// <summary>Reads back a folder written by <c>generate --out</c> (or any JSONL of the same DTOs), line by line.</summary>
public static class JsonlSource
{
    public static IEnumerable<T> Read<T>(string path, ImportReport report)
        where T : class
    {
        var name = Path.GetFileName(path);
        using var reader = new StreamReader(path);
        long line = 0;
        while (reader.ReadLine() is { } text)
        {
            line++;
            if (string.IsNullOrWhiteSpace(text))
            {
                continue;
            }

            report.RowRead();
            if (ParseLine<T>(text, out var error) is { } record)
            {
                yield return record;
            }
            else
            {
                report.Reject(new RowError(name, line, $"not a valid {typeof(T).Name}: {error}"));
            }
        }
    }

    /// <summary>One non-blank line as a <typeparamref name="T"/>, or null with the reason (bad JSON, or a JSON null).</summary>
    public static T? ParseLine<T>(string text, out string? error)
        where T : class
    {
        try
        {
            var record = JsonSerializer.Deserialize<T>(text, JsonDefaults.Options);
            error = record is null ? "null" : null;
            return record;
        }
        catch (JsonException ex)
        {
            error = ex.Message;
            return null;
        }
    }
}
