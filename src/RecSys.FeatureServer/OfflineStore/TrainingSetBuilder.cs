using System.Globalization;
using System.Text;
using DuckDB.NET.Data;

namespace RecSys.FeatureServer.OfflineStore;

/// <summary>One label of a training set: a user, an item, a creator or a combination at an event time (unix ms), with its label.</summary>
public readonly record struct LabelRow(string? UserId, string? ItemId, string? CreatorId, long EventTimeMs, double Label);

/// <summary>What a build did.</summary>
public sealed record TrainingSetStats(int Labels, int Features, long LateRowsExcluded, TimeSpan Elapsed);

/// <summary>
/// Builds point-in-time training sets with DuckDB over the offline store's Parquet files. For every label and requested
/// feature the value is the one of the stored row with the greatest event time at or before the label's event time,
/// among the rows created at or before it (so that nothing written after the label's time leaks into it); ties on event
/// time go to the latest created row, then the greatest value, so the choice is total and the output reproducible.
/// Missing values take the feature's default, as serving does. Output: Parquet, rows in label order, columns
/// <c>label_index, user_id, item_id, creator_id, event_time, label</c> then one column per feature in request order.
/// </summary>
public sealed class TrainingSetBuilder(IOfflineFeatureStore store)
{
    public const string LabelIndexColumn = "label_index";

    /// <summary>Rows per row group of the output file (fixed so that equal inputs give equal bytes).</summary>
    public const int OutputRowGroupSize = 122_880;

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
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        await using var connection = new DuckDBConnection("DataSource=:memory:");
        await connection.OpenAsync(cancellationToken);
        if (Threads is { } threads)
        {
            await ExecuteAsync(connection, $"SET threads = {threads.ToString(CultureInfo.InvariantCulture)}", cancellationToken);
        }

        await ExecuteAsync(connection, "CREATE TABLE labels (idx BIGINT, user_id VARCHAR, item_id VARCHAR, creator_id VARCHAR, ts BIGINT, label DOUBLE)", cancellationToken);
        AppendLabels(connection, labels);

        var lookups = features.SelectMany(f => f.Lookups).Distinct().ToList();
        var stored = lookups.Select(l => l.Stored).Distinct().ToList();
        var windows = lookups.Where(l => l.BeforeWindow is not null).Select(l => l.BeforeWindow!).Distinct().ToList();

        // Probe keys: the label's time, and the last millisecond before each window ending at it.
        var probes = new StringBuilder($"CREATE TABLE l AS SELECT idx, user_id, item_id, creator_id, ts, label, {ProbeKey("ts")} AS p");
        for (var w = 0; w < windows.Count; w++)
        {
            var bucket = ((long)windows[w].Bucket.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
            var start = $"(floor(ts / {bucket}.0)::BIGINT - {(windows[w].Buckets - 1).ToString(CultureInfo.InvariantCulture)}) * {bucket} - 1";
            probes.Append(CultureInfo.InvariantCulture, $", {ProbeKey(start)} AS p{w}");
        }

        await ExecuteAsync(connection, probes.Append(" FROM labels").ToString(), cancellationToken);

        var maxDate = OfflineLayout.DateOf(labels.Max(l => l.EventTimeMs));
        var source = store.HasData()
            ? $"""
              SELECT {OfflineLayout.EntityKind} AS kind, {OfflineLayout.EntityId} AS id, {OfflineLayout.Feature} AS feature,
                     {OfflineLayout.Value} AS value, {OfflineLayout.EventTimeMs} AS t, {OfflineLayout.CreatedTimeMs} AS c
              FROM {OfflineLayout.ReadParquetSql(store.Directory)}
              WHERE {OfflineLayout.Date} <= DATE '{maxDate:yyyy-MM-dd}' AND {OfflineLayout.Value} IS NOT NULL
                AND {OfflineLayout.Feature} IN ({string.Join(", ", stored.Select(s => OfflineLayout.SqlString(s.Name)))})
              """
            : "SELECT NULL::VARCHAR AS kind, NULL::VARCHAR AS id, NULL::VARCHAR AS feature, NULL::DOUBLE AS value, NULL::BIGINT AS t, NULL::BIGINT AS c WHERE false";
        await ExecuteAsync(connection, $"CREATE TABLE f AS {source}", cancellationToken);

        // One ASOF LEFT JOIN per lookup on a total order (event time, created time, value).
        var sql = new StringBuilder("CREATE TABLE j AS SELECT l.idx, l.user_id, l.item_id, l.creator_id, l.ts, l.label");
        for (var k = 0; k < lookups.Count; k++)
        {
            sql.Append(CultureInfo.InvariantCulture, $", f{k}.value AS v{k}, f{k}.c AS c{k}");
        }

        sql.Append(" FROM l");
        for (var k = 0; k < lookups.Count; k++)
        {
            var lookup = lookups[k];
            var probe = lookup.BeforeWindow is { } window ? "p" + windows.IndexOf(window).ToString(CultureInfo.InvariantCulture) : "p";
            sql.Append(CultureInfo.InvariantCulture, $$"""

                ASOF LEFT JOIN (SELECT id, value, c, {'t': t, 'c': c, 'v': value} AS o FROM f
                                WHERE kind = {{OfflineLayout.SqlString(lookup.Stored.EntityKind)}} AND feature = {{OfflineLayout.SqlString(lookup.Stored.Name)}}) f{{k}}
                  ON l.{{EntityColumn(lookup.Stored.EntityKind)}} = f{{k}}.id AND l.{{probe}} >= f{{k}}.o
                """);
        }

        await ExecuteAsync(connection, sql.ToString(), cancellationToken);

        // Where the row found was created after the label's time, fall back to the latest row visible at that time.
        long late = 0;
        for (var k = 0; k < lookups.Count; k++)
        {
            var leaked = await ScalarAsync(connection, $"SELECT count(*) FROM j WHERE c{k} > ts", cancellationToken);
            if (leaked == 0)
            {
                continue;
            }

            late += leaked;
            var lookup = lookups[k];
            var probe = lookup.BeforeWindow is { } window ? "p" + windows.IndexOf(window).ToString(CultureInfo.InvariantCulture) : "p";
            await ExecuteAsync(connection, $"""
                CREATE OR REPLACE TEMP TABLE fix AS
                SELECT idx, value FROM (
                  SELECT q.idx, f.value, row_number() OVER (PARTITION BY q.idx ORDER BY f.t DESC, f.c DESC, f.value DESC) AS rn
                  FROM (SELECT l.idx, l.{EntityColumn(lookup.Stored.EntityKind)} AS id, l.ts, l.{probe}.t AS pt FROM j JOIN l USING (idx) WHERE j.c{k} > j.ts) q
                  JOIN f ON f.kind = {OfflineLayout.SqlString(lookup.Stored.EntityKind)} AND f.feature = {OfflineLayout.SqlString(lookup.Stored.Name)}
                        AND f.id = q.id AND f.t <= q.pt AND f.c <= q.ts)
                WHERE rn = 1;
                UPDATE j SET v{k} = NULL, c{k} = NULL WHERE c{k} > ts;
                UPDATE j SET v{k} = fix.value FROM fix WHERE j.idx = fix.idx;
                """, cancellationToken);
        }

        var columns = new StringBuilder($"idx AS {LabelIndexColumn}, user_id, item_id, creator_id, make_timestamp(ts * 1000) AS event_time, label");
        foreach (var feature in features)
        {
            var fallback = feature.Definition.DefaultNumber is { } d ? Number(d) : "NULL::DOUBLE";
            columns.Append(CultureInfo.InvariantCulture, $", coalesce({Raw(feature.Expression, lookups)}, {fallback}) AS {Identifier(feature.Name)}");
        }

        await ExecuteAsync(
            connection,
            $"COPY (SELECT {columns} FROM j ORDER BY idx) TO {OfflineLayout.SqlString(outputPath)} (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE {OutputRowGroupSize})",
            cancellationToken);
        return new TrainingSetStats(labels.Count, features.Count, late, System.Diagnostics.Stopwatch.GetElapsedTime(started));
    }

    /// <summary>The column a kind's entity id is in.</summary>
    public static string EntityColumn(string entityKind) => entityKind switch
    {
        Streaming.EntityKinds.User => "user_id",
        Streaming.EntityKinds.Item => "item_id",
        Streaming.EntityKinds.Creator => "creator_id",
        _ => throw new ArgumentException($"No label column holds entities of kind '{entityKind}'.", nameof(entityKind)),
    };

    private static string ProbeKey(string time) => $"{{'t': {time}, 'c': 9223372036854775807::BIGINT, 'v': 'NaN'::DOUBLE}}";

    /// <summary>The expression's value, NULL when nothing is known.</summary>
    private static string Raw(OfflineExpression expression, List<OfflineLookup> lookups) => expression switch
    {
        StoredValue s => "v" + lookups.IndexOf(s.At).ToString(CultureInfo.InvariantCulture),
        WindowedValue w => $"(v{lookups.IndexOf(w.At).ToString(CultureInfo.InvariantCulture)} - coalesce(v{lookups.IndexOf(w.Before).ToString(CultureInfo.InvariantCulture)}, 0))",
        RatioValue r => $"(CASE WHEN {Raw(r.Denominator, lookups)} > 0 THEN coalesce({Raw(r.Numerator, lookups)}, 0) / {Raw(r.Denominator, lookups)} END)",
        _ => throw new ArgumentException("Unknown expression.", nameof(expression)),
    };

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture) + "::DOUBLE";

    private static string Identifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static void AppendLabels(DuckDBConnection connection, IReadOnlyList<LabelRow> labels)
    {
        using var appender = connection.CreateAppender("labels");
        for (var i = 0; i < labels.Count; i++)
        {
            var label = labels[i];
            appender.CreateRow()
                .AppendValue((long?)i)
                .AppendValue(label.UserId)
                .AppendValue(label.ItemId)
                .AppendValue(label.CreatorId)
                .AppendValue((long?)label.EventTimeMs)
                .AppendValue((double?)label.Label)
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
