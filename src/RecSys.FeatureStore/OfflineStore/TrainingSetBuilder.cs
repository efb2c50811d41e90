using System.Diagnostics;
using System.Globalization;
using System.Text;
using DuckDB.NET.Data;
using RecSys.FeatureStore.Registry;

namespace RecSys.FeatureStore.OfflineStore;

/// <summary>One label of a training set: a user, an item, a creator or a combination at an event time (unix ms), with its label and sample weight.</summary>
public readonly record struct LabelRow(string? UserId, string? ItemId, string? CreatorId, long EventTimeMs, double Label, double Weight = 1);

/// <summary>What a build did.</summary>
public sealed record TrainingSetStats(int Labels, int Features, long LateRowsExcluded, TimeSpan Elapsed)
{
    /// <summary>The build's statements in order with their durations (where the time goes).</summary>
    public IReadOnlyList<TrainingSetStep> Steps { get; init; } = [];

    /// <summary>Labels left out because they name a deleted user (<see cref="Deletion.DeletedUsers"/>); not in <see cref="Labels"/>.</summary>
    public int LabelsOfDeletedUsers { get; init; }
}

/// <summary>One step of a build and how long it took.</summary>
public sealed record TrainingSetStep(string Name, TimeSpan Elapsed);

/// <summary>
/// Builds point-in-time training sets with DuckDB over the offline store's Parquet files. For every label and requested
/// feature the value is the one of the stored row with the greatest event time at or before the label's event time,
/// among the rows created at or before it (so that nothing written after the label's time leaks into it); ties on event
/// time go to the latest created row, then the greatest value, so the choice is total and the output reproducible.
/// Missing values take the feature's default, as serving does. Output: Parquet, rows in label order, columns
/// <c>label_index, user_id, item_id, creator_id, event_time, label, weight</c> then one column per feature in request order
/// (the weight is the label's, passed through untouched).
/// </summary>
/// <remarks>
/// How: the offline rows of the requested features and of the labels' entities are read once into a table keyed by small
/// integers (entity ids are mapped through a dictionary of the labels' ids); each lookup is then a narrow ASOF LEFT JOIN
/// of (label index, entity number, probe key) on the packed key (event time, created time) with value ties pre-reduced
/// to the greatest value, and the narrow results are joined back on the label index. A match created after the label's
/// time is flagged; one statement then finds, for all flagged label-lookup pairs at once, the latest row visible at the
/// label's time.
/// Deleted users (<paramref name="deletedUsers"/>) are the offline store's tombstones: their labels are left out (the other
/// labels keep their <see cref="LabelIndexColumn"/>), so none of their rows is ever read into a training set.
/// </remarks>
public sealed class TrainingSetBuilder(IOfflineFeatureStore store, Deletion.DeletedUsers? deletedUsers = null)
{
    public const string LabelIndexColumn = "label_index";

    /// <summary>Rows per row group of the output file (fixed so that equal inputs give equal bytes).</summary>
    public const int OutputRowGroupSize = 122_880;

    /// <summary>
    /// Lookups joined in one statement: DuckDB's planning time grows much faster than linearly with the number of joins
    /// in a statement (about 0.1 s for 20 joins, 0.5 s for 64, two minutes for 300), so larger requests are split.
    /// </summary>
    private const int LookupsPerStatement = 32;

    /// <summary>2^64: the event time goes in the high 64 bits of the HUGEINT sort key.</summary>
    private const string High = "18446744073709551616";

    /// <summary>DuckDB worker threads; null uses DuckDB's default (one per core).</summary>
    public int? Threads { get; init; }

    /// <summary>Writes the training set of <paramref name="labels"/> and <paramref name="features"/> to <paramref name="outputPath"/>.</summary>
    public async Task<TrainingSetStats> BuildAsync(
        IReadOnlyList<LabelRow> labels,
        IReadOnlyList<OfflineFeature> features,
        string outputPath,
        CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfZero(labels.Count);
        ArgumentOutOfRangeException.ThrowIfZero(features.Count);
        var started = Stopwatch.GetTimestamp();
        var kept = KeptLabels(labels);
        var steps = new List<TrainingSetStep>();
        await using var connection = new DuckDBConnection("DataSource=:memory:");
        await connection.OpenAsync(cancellationToken);

        async Task StepAsync(string name, string sql)
        {
            var begun = Stopwatch.GetTimestamp();
            await ExecuteAsync(connection, sql, cancellationToken);
            steps.Add(new TrainingSetStep(name, Stopwatch.GetElapsedTime(begun)));
        }

        if (Threads is { } threads)
        {
            await ExecuteAsync(connection, $"SET threads = {Int(threads)}", cancellationToken);
        }

        var appending = Stopwatch.GetTimestamp();
        await ExecuteAsync(connection, "CREATE TABLE labels (idx BIGINT, user_id VARCHAR, item_id VARCHAR, creator_id VARCHAR, ts BIGINT, label DOUBLE, weight DOUBLE)", cancellationToken);
        AppendLabels(connection, labels, kept);
        steps.Add(new TrainingSetStep("labels", Stopwatch.GetElapsedTime(appending)));

        var lookups = features.SelectMany(f => f.Lookups).Distinct().ToList();
        var stored = lookups.Select(l => l.Stored).Distinct().ToList();
        var windows = lookups.Where(l => l.BeforeWindow is not null).Select(l => l.BeforeWindow!).Distinct().ToList();
        var kinds = stored.Select(s => s.EntityKind).Distinct(StringComparer.Ordinal).ToList();

        // Entity numbers: a dictionary of the labels' ids per kind, so that joins and sorts compare integers, and rows
        // of entities no label names are dropped as the files are read.
        await StepAsync("ids", "CREATE TABLE ids AS SELECT kind, id, (row_number() OVER ())::INTEGER AS n FROM ("
            + string.Join(" UNION ALL ", kinds.Select(k => $"(SELECT DISTINCT {OfflineLayout.SqlString(k)} AS kind, {EntityColumn(k)} AS id FROM labels WHERE {EntityColumn(k)} IS NOT NULL)"))
            + ")");
        var l = new StringBuilder("CREATE TABLE l AS SELECT labels.*");
        for (var i = 0; i < kinds.Count; i++)
        {
            l.Append(CultureInfo.InvariantCulture, $", i{i}.n AS n{i}");
        }

        l.Append(" FROM labels");
        for (var i = 0; i < kinds.Count; i++)
        {
            l.Append(CultureInfo.InvariantCulture, $" LEFT JOIN ids i{i} ON i{i}.kind = {OfflineLayout.SqlString(kinds[i])} AND i{i}.id = labels.{EntityColumn(kinds[i])}");
        }

        await StepAsync("entity numbers", l.ToString());

        // The offline rows once, as (stored feature, entity number, event time, created time, value).
        var maxDate = kept is null ? OfflineLayout.DateOf(labels.Max(r => r.EventTimeMs))
            : kept.Count > 0 ? OfflineLayout.DateOf(kept.Max(i => labels[i].EventTimeMs)) : DateOnly.MinValue;
        var storedValues = string.Join(", ", stored.Select((s, i) => $"({OfflineLayout.SqlString(s.EntityKind)}, {OfflineLayout.SqlString(s.Name)}, {Int(i)})"));
        await StepAsync("read offline rows", store.HasData()
            ? $"""
              CREATE TABLE f AS
              SELECT sf.s, ids.n, r.{OfflineLayout.EventTimeMs} AS t, r.{OfflineLayout.CreatedTimeMs} AS c, r.{OfflineLayout.Value} AS value
              FROM {OfflineLayout.ReadParquetSql(store.Directory)} r
              JOIN (VALUES {storedValues}) sf(kind, feature, s) ON r.{OfflineLayout.EntityKind} = sf.kind AND r.{OfflineLayout.Feature} = sf.feature
              JOIN ids ON ids.kind = r.{OfflineLayout.EntityKind} AND ids.id = r.{OfflineLayout.EntityId}
              WHERE r.{OfflineLayout.Date} <= DATE '{maxDate:yyyy-MM-dd}' AND r.{OfflineLayout.Value} IS NOT NULL
                AND r.{OfflineLayout.Feature} IN ({string.Join(", ", stored.Select(s => OfflineLayout.SqlString(s.Name)))})
              """
            : "CREATE TABLE f (s INTEGER, n INTEGER, t BIGINT, c BIGINT, value DOUBLE)");

        // One narrow ASOF LEFT JOIN per lookup, joined back on the label index, in batches (see LookupsPerStatement).
        var batches = lookups.Chunk(LookupsPerStatement).ToList();
        for (var b = 0; b < batches.Count; b++)
        {
            var sql = new StringBuilder("CREATE TABLE j" + Int(b) + " AS SELECT ");
            sql.Append(b == 0 ? "l.*" : "l.idx");
            var first = b * LookupsPerStatement;
            for (var k = first; k < first + batches[b].Length; k++)
            {
                sql.Append(CultureInfo.InvariantCulture, $", r{k}.v AS v{k}, r{k}.x AS x{k}");
            }

            sql.Append(" FROM l");
            for (var k = first; k < first + batches[b].Length; k++)
            {
                var lookup = lookups[k];
                var s = stored.IndexOf(lookup.Stored);
                var n = "n" + Int(kinds.IndexOf(lookup.Stored.EntityKind));
                sql.Append(CultureInfo.InvariantCulture, $"""

                    JOIN (SELECT p.idx, f.value AS v, f.c > p.ts AS x
                          FROM (SELECT idx, ts, {n} AS n, {Key(ProbeTime(lookup, windows, "ts"), null)} AS o FROM l) p
                          ASOF LEFT JOIN (SELECT n, c, {Key("t", "c")} AS o, max(value) AS value FROM f WHERE s = {Int(s)} GROUP BY n, t, c) f
                            ON p.n = f.n AND p.o >= f.o) r{k} ON r{k}.idx = l.idx
                    """);
            }

            await StepAsync(string.Create(CultureInfo.InvariantCulture, $"as-of joins {first + 1}-{first + batches[b].Length}"), sql.ToString());
        }

        // Matches created after the label's time: the latest row visible at that time instead, for all lookups at once.
        var pairs = new List<string>();
        for (var b = 0; b < batches.Count; b++)
        {
            var ks = Enumerable.Range(b * LookupsPerStatement, batches[b].Length).ToList();
            pairs.Add($"""
                SELECT idx, k FROM (
                  SELECT idx, unnest([{string.Join(", ", ks.Select(k => $"CASE WHEN x{Int(k)} THEN {Int(k)} END"))}]) AS k
                  FROM j{b} WHERE {string.Join(" OR ", ks.Select(k => $"x{Int(k)}"))})
                WHERE k IS NOT NULL
                """);
        }

        var meta = string.Join(", ", lookups.Select((lookup, k) =>
            $"({Int(k)}, {Int(stored.IndexOf(lookup.Stored))}, {Int(kinds.IndexOf(lookup.Stored.EntityKind))}, {Int(lookup.BeforeWindow is { } w ? windows.IndexOf(w) + 1 : 0)})"));
        var entity = "CASE m.kind " + string.Join(" ", kinds.Select((_, i) => $"WHEN {Int(i)} THEN l.n{Int(i)}")) + " END";
        var probe = "CASE m.probe WHEN 0 THEN l.ts " + string.Join(" ", windows.Select((w, i) => $"WHEN {Int(i + 1)} THEN {WindowStart(w, "l.ts")}")) + " END";
        await StepAsync("late rows", $$"""
            CREATE TABLE fix AS
            SELECT q.k, q.idx, arg_max(f.value, {'t': f.t, 'c': f.c, 'v': f.value}) AS value
            FROM (
              SELECT q.k, q.idx, l.ts, m.s, {{entity}} AS n, {{probe}} AS pt
              FROM ({{string.Join(" UNION ALL ", pairs)}}) q
              JOIN l ON l.idx = q.idx
              JOIN (VALUES {{meta}}) m(k, s, kind, probe) ON m.k = q.k) q
            LEFT JOIN f ON f.s = q.s AND f.n = q.n AND f.t <= q.pt AND f.c <= q.ts
            GROUP BY q.k, q.idx
            """);
        var late = await ScalarAsync(connection, "SELECT count(*) FROM fix", cancellationToken);

        var from = new StringBuilder("j0");
        for (var b = 1; b < batches.Count; b++)
        {
            from.Append(CultureInfo.InvariantCulture, $" JOIN j{b} ON j{b}.idx = j0.idx");
        }

        var values = new List<string>(lookups.Count);
        if (late > 0)
        {
            var pivot = new StringBuilder("CREATE TABLE fw AS SELECT idx");
            for (var k = 0; k < lookups.Count; k++)
            {
                pivot.Append(CultureInfo.InvariantCulture, $", max(value) FILTER (WHERE k = {Int(k)}) AS w{Int(k)}");
            }

            await StepAsync("late rows by label", pivot.Append(" FROM fix GROUP BY idx").ToString());
            from.Append(" LEFT JOIN fw ON fw.idx = j0.idx");
            values.AddRange(lookups.Select((_, k) => $"CASE WHEN x{Int(k)} THEN w{Int(k)} ELSE v{Int(k)} END"));
        }
        else
        {
            values.AddRange(lookups.Select((_, k) => "v" + Int(k)));
        }

        var columns = new StringBuilder($"j0.idx AS {LabelIndexColumn}, user_id, item_id, creator_id, make_timestamp(ts * 1000) AS event_time, label, weight");
        foreach (var feature in features)
        {
            var fallback = feature.Definition.DefaultNumber is { } d ? Number(d) : "NULL::DOUBLE";
            columns.Append(CultureInfo.InvariantCulture, $", coalesce({Raw(feature.Expression, lookups, values)}, {fallback}) AS {Identifier(feature.Name)}");
        }

        await StepAsync("write", $"COPY (SELECT {columns} FROM {from} ORDER BY j0.idx) TO {OfflineLayout.SqlString(outputPath)} (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE {OutputRowGroupSize})");
        var excluded = kept is null ? 0 : labels.Count - kept.Count;
        return new TrainingSetStats(labels.Count - excluded, features.Count, late, Stopwatch.GetElapsedTime(started))
        {
            Steps = steps,
            LabelsOfDeletedUsers = excluded,
        };
    }

    /// <summary>The column a kind's entity id is in.</summary>
    public static string EntityColumn(string entityKind) => entityKind switch
    {
        Streaming.EntityKinds.User => "user_id",
        Streaming.EntityKinds.Item => "item_id",
        Streaming.EntityKinds.Creator => "creator_id",
        _ => throw new ArgumentException($"No label column holds entities of kind '{entityKind}'.", nameof(entityKind)),
    };

    /// <summary>
    /// The sort key of (event time, created time): one HUGEINT, the event time in the high 64 bits and the created time,
    /// shifted to be non-negative, in the low 64, so that it orders as the pair does. A probe (null created time) takes
    /// the greatest low half: it is at or after every row of its event time.
    /// </summary>
    private static string Key(string time, string? created) =>
        created is null ? $"({time}::HUGEINT * {High} + 18446744073709551615)" : $"({time}::HUGEINT * {High} + ({created}::HUGEINT + 9223372036854775808))";

    /// <summary>The time a lookup looks as of: the label's, or the last millisecond before the window ending at it.</summary>
    private static string ProbeTime(OfflineLookup lookup, List<FeatureWindow> windows, string ts) =>
        lookup.BeforeWindow is { } window ? WindowStart(windows[windows.IndexOf(window)], ts) : ts;

    private static string WindowStart(FeatureWindow window, string ts)
    {
        var bucket = Int((long)window.Bucket.TotalMilliseconds);
        return $"((floor({ts} / {bucket}.0)::BIGINT - {Int(window.Buckets - 1)}) * {bucket} - 1)";
    }

    /// <summary>The expression's value, NULL when nothing is known.</summary>
    private static string Raw(OfflineExpression expression, List<OfflineLookup> lookups, List<string> values) => expression switch
    {
        StoredValue s => values[lookups.IndexOf(s.At)],
        WindowedValue w => $"({values[lookups.IndexOf(w.At)]} - coalesce({values[lookups.IndexOf(w.Before)]}, 0))",
        RatioValue r => $"(CASE WHEN {Raw(r.Denominator, lookups, values)} > 0 THEN coalesce({Raw(r.Numerator, lookups, values)}, 0) / {Raw(r.Denominator, lookups, values)} END)",
        _ => throw new ArgumentException("Unknown expression.", nameof(expression)),
    };

    private static string Int(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture) + "::DOUBLE";

    private static string Identifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>The indexes of the labels that name no deleted user; null when that is all of them.</summary>
    private List<int>? KeptLabels(IReadOnlyList<LabelRow> labels)
    {
        if (deletedUsers is not { Count: > 0 } deleted)
        {
            return null;
        }

        List<int>? kept = null;
        for (var i = 0; i < labels.Count; i++)
        {
            if (deleted.Contains(labels[i].UserId))
            {
                kept ??= [.. Enumerable.Range(0, i)];
            }
            else
            {
                kept?.Add(i);
            }
        }

        return kept;
    }

    private static void AppendLabels(DuckDBConnection connection, IReadOnlyList<LabelRow> labels, List<int>? kept)
    {
        using var appender = connection.CreateAppender("labels");
        var count = kept?.Count ?? labels.Count;
        for (var k = 0; k < count; k++)
        {
            var i = kept?[k] ?? k;
            var label = labels[i];
            appender.CreateRow()
                .AppendValue((long?)i)
                .AppendValue(label.UserId)
                .AppendValue(label.ItemId)
                .AppendValue(label.CreatorId)
                .AppendValue((long?)label.EventTimeMs)
                .AppendValue((double?)label.Label)
                .AppendValue((double?)label.Weight)
                .EndRow();
        }
    }

    internal static async Task ExecuteAsync(DuckDBConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    internal static async Task<long> ScalarAsync(DuckDBConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }
}
