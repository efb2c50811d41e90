using System.Text.Json;

namespace RecSys.Trainer.Ingestion;

/// <summary>
/// Reads a 400 problem+json answer to a batch. The FeatureServer lists per-record errors (valid records of the batch
/// were still accepted); both the ValidationProblem shape (<c>errors: { "events[3].userId": ["..."] }</c>) and a list
/// of <c>{ index, eventId, error }</c> objects are understood, and explicit <c>accepted</c>/<c>rejected</c> counts win.
/// </summary>
public static class ProblemParser
{
    public static BatchOutcome Parse(string body, int batchCount, string what)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return WholeBatch(batchCount, $"{what}: {Shorten(body)}");
            }

            var errors = ErrorsOf(root);
            var perRecord = CountRecords(root);
            int? accepted = root.TryGetProperty("accepted", out var a) && a.ValueKind == JsonValueKind.Number ? a.GetInt32() : null;
            int? rejected = root.TryGetProperty("rejected", out var r) && r.ValueKind == JsonValueKind.Number ? r.GetInt32() : null;
            if (errors.Count == 0)
            {
                var title = root.TryGetProperty("detail", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString()
                    : root.TryGetProperty("title", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()
                    : Shorten(body);
                errors = [$"{what}: {title}"];
            }

            if (rejected is null && perRecord is > 0)
            {
                rejected = Math.Min(perRecord.Value, batchCount);
            }

            rejected ??= batchCount;
            accepted ??= Math.Max(0, batchCount - rejected.Value);
            return new BatchOutcome(accepted.Value, rejected.Value, errors);
        }
        catch (JsonException)
        {
            return WholeBatch(batchCount, $"{what}: {Shorten(body)}");
        }
    }

    /// <summary>Error messages of a problem or batch response, one line each.</summary>
    public static IReadOnlyList<string> ErrorsOf(JsonElement root)
    {
        var list = new List<string>();
        if (!root.TryGetProperty("errors", out var errors))
        {
            return list;
        }

        if (errors.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in errors.EnumerateObject())
            {
                var messages = property.Value.ValueKind == JsonValueKind.Array
                    ? string.Join("; ", property.Value.EnumerateArray().Select(x => x.ToString()))
                    : property.Value.ToString();
                list.Add($"{property.Name}: {messages}");
            }
        }
        else if (errors.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in errors.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Object)
                {
                    list.Add(item.ToString());
                    continue;
                }

                var id = item.TryGetProperty("eventId", out var e) ? e.ToString()
                    : item.TryGetProperty("itemId", out var i) ? i.ToString()
                    : null;
                var index = item.TryGetProperty("index", out var x) ? x.ToString() : null;
                var message = item.TryGetProperty("error", out var m) ? m.ToString() : item.ToString();
                list.Add(id is { Length: > 0 } ? $"[{index}] {id}: {message}" : $"[{index}]: {message}");
            }
        }

        return list;
    }

    /// <summary>Distinct records named by the errors (by "[n]" in a ValidationProblem key, or by array entry), null when none are named.</summary>
    private static int? CountRecords(JsonElement root)
    {
        if (!root.TryGetProperty("errors", out var errors))
        {
            return null;
        }

        if (errors.ValueKind == JsonValueKind.Array)
        {
            return errors.GetArrayLength();
        }

        if (errors.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var indexes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in errors.EnumerateObject())
        {
            var open = property.Name.IndexOf('[', StringComparison.Ordinal);
            var close = open >= 0 ? property.Name.IndexOf(']', open) : -1;
            if (close > open + 1)
            {
                indexes.Add(property.Name[(open + 1)..close]);
            }
        }

        return indexes.Count > 0 ? indexes.Count : null;
    }

    private static BatchOutcome WholeBatch(int count, string reason) => new(0, count, [reason]);

    private static string Shorten(string text) => text.Length > 200 ? text[..200] + "..." : text;
}
