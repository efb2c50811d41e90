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
            T? record;
            try
            {
                record = JsonSerializer.Deserialize<T>(text, JsonDefaults.Options);
            }
            catch (JsonException ex)
            {
                report.Reject(new RowError(name, line, $"not a valid {typeof(T).Name}: {ex.Message}"));
                continue;
            }

            if (record is null)
            {
                report.Reject(new RowError(name, line, $"not a valid {typeof(T).Name}: null"));
                continue;
            }

            yield return record;
        }
    }
}
