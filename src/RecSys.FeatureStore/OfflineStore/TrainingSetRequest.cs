using System.Globalization;
using DuckDB.NET.Data;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Streaming;

namespace RecSys.FeatureStore.OfflineStore;

/// <summary>
/// A label on the wire: the entity ids it concerns (user, item, creator: those its features need), its event time, label and
/// optional sample weight (passed through to the output's <c>weight</c> column; 1 when absent).
/// </summary>
public sealed record TrainingLabel(string? UserId, string? ItemId, string? CreatorId, DateTimeOffset? EventTime, double? Label, double? Weight = null);

/// <summary>Body of <c>POST /v1/training-sets</c> as JSON: feature names and labels.</summary>
public sealed record TrainingSetRequest(IReadOnlyList<string>? Features, IReadOnlyList<TrainingLabel>? Labels);

/// <summary>A validated training-set request.</summary>
public sealed record TrainingSetQuery(IReadOnlyList<OfflineFeature> Features, IReadOnlyList<LabelRow> Labels);

/// <summary>Validation of training-set requests, and reading labels from an uploaded CSV or Parquet file.</summary>
public static class TrainingSetRequests
{
    public const int MaxFeatures = 500;
    private const int MaxErrors = 20;
    private const long MinUnixMilliseconds = -62_135_596_800_000;
    private const long MaxUnixMilliseconds = 253_402_300_799_999;

    /// <summary>Column names of an uploaded labels file.</summary>
    public static readonly IReadOnlyList<string> FileColumns = ["user_id", "item_id", "creator_id", "event_time", "label", "weight"];

    /// <summary>Validates; returns null and the query when valid, else the errors (field name to messages).</summary>
    public static Dictionary<string, string[]>? Validate(
        IReadOnlyList<string>? featureNames, IReadOnlyList<TrainingLabel>? labels, OfflineFeaturePlan plan, out TrainingSetQuery? query)
    {
        query = null;
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var features = new List<OfflineFeature>();
        if (featureNames is null || featureNames.Count == 0 || featureNames.Count > MaxFeatures)
        {
            errors["features"] = [$"Give 1 to {MaxFeatures} feature names; got {featureNames?.Count ?? 0}."];
        }
        else
        {
            var bad = new List<string>();
            foreach (var name in featureNames.Distinct(StringComparer.Ordinal))
            {
                if (name is not null && plan.TryGet(name, out var feature))
                {
                    features.Add(feature);
                }
                else if (name is not null && plan.Registry.TryGet(name, out _))
                {
                    bad.Add($"'{name}' has no offline computation (offline: all-time and windowed counters, latest event time, their ratios).");
                }
                else
                {
                    bad.Add($"'{name}' is not a registered feature (GET /v1/registry lists them).");
                }
            }

            if (bad.Count > 0)
            {
                errors["features"] = [.. bad];
            }
        }

        if (labels is null || labels.Count == 0)
        {
            errors["labels"] = ["Give at least one label."];
        }

        if (errors.Count > 0)
        {
            return errors;
        }

        var needs = features.Select(f => f.EntityKind).ToHashSet(StringComparer.Ordinal);
        var rows = new LabelRow[labels!.Count];
        var count = 0;
        void Error(string key, string message)
        {
            if (count++ < MaxErrors)
            {
                errors[key] = [message];
            }
        }

        for (var i = 0; i < labels.Count; i++)
        {
            var label = labels[i];
            if (label is null)
            {
                Error($"labels[{i}]", "A label must be an object.");
                continue;
            }

            CheckId(label.UserId, EntityKinds.User, "userId", i, needs, Error);
            CheckId(label.ItemId, EntityKinds.Item, "itemId", i, needs, Error);
            CheckId(label.CreatorId, EntityKinds.Creator, "creatorId", i, needs, Error);
            if (label.UserId is null && label.ItemId is null && label.CreatorId is null)
            {
                Error($"labels[{i}]", "A label names a userId, an itemId, a creatorId or several.");
            }

            if (label.EventTime is not { } eventTime)
            {
                Error($"labels[{i}].eventTime", "The event time is required (ISO 8601).");
                continue;
            }

            if (label.Label is not { } value || !double.IsFinite(value))
            {
                Error($"labels[{i}].label", "The label is required and must be a finite number.");
                continue;
            }

            if (label.Weight is { } weight && !(double.IsFinite(weight) && weight >= 0))
            {
                Error($"labels[{i}].weight", "The weight, when given, must be a finite number of 0 or more.");
                continue;
            }

            rows[i] = new LabelRow(label.UserId, label.ItemId, label.CreatorId, eventTime.ToUnixTimeMilliseconds(), value, label.Weight ?? 1);
        }

        if (count > MaxErrors)
        {
            errors["labels"] = [$"{count:N0} errors in the labels; the first {MaxErrors} are listed."];
        }

        if (errors.Count > 0)
        {
            return errors;
        }

        query = new TrainingSetQuery(features, rows);
        return null;
    }

    private static void CheckId(string? id, string kind, string field, int index, HashSet<string> needs, Action<string, string> error)
    {
        if (id is null)
        {
            if (needs.Contains(kind))
            {
                error($"labels[{index}].{field}", $"The {kind} features requested need a {field}.");
            }
        }
        else if (!EntityIds.IsValid(id))
        {
            error($"labels[{index}].{field}", $"'{id}' is not an id of {EntityIds.Description}.");
        }
    }

    /// <summary>
    /// Reads labels from a CSV (with a header) or Parquet file with columns <see cref="FileColumns"/> (ids and weight optional,
    /// event_time as a timestamp, ISO 8601 text or unix milliseconds). Throws <see cref="FormatException"/> on a bad file.
    /// </summary>
    public static async Task<List<TrainingLabel>> ReadFileAsync(string path, bool parquet, CancellationToken cancellationToken)
    {
        await using var connection = new DuckDBConnection("DataSource=:memory:");
        await connection.OpenAsync(cancellationToken);
        var source = parquet
            ? $"read_parquet({OfflineLayout.SqlString(path)})"
            : $"read_csv({OfflineLayout.SqlString(path)}, header = true, all_varchar = true)";
        List<string> columns;
        await using (var describe = connection.CreateCommand())
        {
            describe.CommandText = $"SELECT column_name FROM (DESCRIBE SELECT * FROM {source})";
            columns = [];
            try
            {
                await using var reader = await describe.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    columns.Add(reader.GetString(0));
                }
            }
            catch (DuckDBException ex)
            {
                throw new FormatException($"The labels file cannot be read: {ex.Message}", ex);
            }
        }

        CheckFileColumns(columns);

        string Column(string name) => columns.Contains(name) ? $"CAST(\"{name}\" AS VARCHAR)" : "NULL::VARCHAR";
        var timeColumn = columns.Contains("event_time") ? "CAST(event_time AS VARCHAR)" : "NULL";
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Column("user_id")}, {Column("item_id")}, {Column("creator_id")}, {timeColumn}, {Column("label")}, {Column("weight")} FROM {source}";
        var labels = new List<TrainingLabel>();
        try
        {
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
                labels.Add(LabelFromFileRow(Text(0), Text(1), Text(2), Text(3), Text(4), Text(5)));
            }
        }
        catch (DuckDBException ex)
        {
            throw new FormatException($"The labels file cannot be read: {ex.Message}", ex);
        }

        return labels;
    }

    /// <summary>
    /// Checks the columns of an uploaded labels file (as the file's reader found them): event_time and label are needed.
    /// Throws <see cref="FormatException"/> naming what was found.
    /// </summary>
    public static void CheckFileColumns(IReadOnlyCollection<string> columns)
    {
        ArgumentNullException.ThrowIfNull(columns);
        if (!columns.Contains("event_time") || !columns.Contains("label"))
        {
            throw new FormatException($"The labels file needs columns event_time and label (and user_id, item_id or creator_id); found {string.Join(", ", columns)}.");
        }
    }

    /// <summary>
    /// One row of an uploaded labels file, its fields as text (null when absent): event_time as ISO 8601 or unix
    /// milliseconds, label as a number. Unparseable values become null (validation reports them); unix milliseconds
    /// outside years 1 to 9999 throw <see cref="FormatException"/>. An absent weight is null (weight 1); an unparsable one
    /// is NaN, which validation rejects, rather than a silent weight 1.
    /// </summary>
    public static TrainingLabel LabelFromFileRow(
        string? userId, string? itemId, string? creatorId, string? eventTime, string? label, string? weight = null) =>
        new(userId, itemId, creatorId, ParseTime(eventTime), ParseNumber(label), weight is null ? null : ParseNumber(weight) ?? double.NaN);

    private static DateTimeOffset? ParseTime(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms))
        {
            return ms is >= MinUnixMilliseconds and <= MaxUnixMilliseconds
                ? DateTimeOffset.FromUnixTimeMilliseconds(ms)
                : throw new FormatException($"The labels file has event_time {text}, outside the unix milliseconds of years 1 to 9999.");
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time)
            ? time
            : null;
    }

    private static double? ParseNumber(string? text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value : null;
}
