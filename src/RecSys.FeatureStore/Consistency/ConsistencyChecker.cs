using System.Globalization;
using DuckDB.NET.Data;
using Microsoft.Extensions.Options;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.OfflineStore;
using RecSys.FeatureStore.Streaming;
using RecSys.FeatureStore.Telemetry;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Consistency;

/// <summary>A value with the event time (unix ms) it is as of; null when the store has none.</summary>
public sealed record TimedValue(double Value, long? EventTimeMs);

/// <summary>One feature of one entity whose online and offline values differ.</summary>
public sealed record FeatureMismatch(string EntityKind, string EntityId, string Feature, TimedValue? Online, TimedValue? Offline)
{
    /// <summary>Whether the offline value is as of a later event time than the online one (reconcile would write it).</summary>
    public bool OfflineNewer => Offline?.EventTimeMs is { } offline && (Online?.EventTimeMs is not { } online || offline > online);
}

/// <summary>Result of one online-versus-offline comparison.</summary>
public sealed record ConsistencyReport(
    DateTimeOffset CheckedAt,
    int SampledEntities,
    int ComparedValues,
    int Mismatches,
    int MismatchedEntities,
    double InconsistencyRatio,
    bool Alert,
    double Tolerance,
    IReadOnlyList<FeatureMismatch> Examples);

/// <summary>Result of one reconciliation (offline values newer than the online ones written back).</summary>
public sealed record ReconcileReport(ConsistencyReport Check, int OfflineNewer, int Written, int Refused);

/// <summary>
/// Compares the online store with the offline store's latest values for a sample of entities (the stored features of
/// <see cref="OfflineFeaturePlan"/>: online field <c>name</c> and <c>name@t</c> of <see cref="OnlineKeys.Features"/>,
/// offline the row of the latest event time), and reconciles: where offline is newer, it is written online with an
/// atomic event-time check.
/// </summary>
public sealed partial class ConsistencyChecker(
    IConnectionMultiplexer redis,
    IOfflineFeatureStore store,
    OfflineFeaturePlan plan,
    FeatureStoreTelemetry metrics,
    IOptions<ConsistencyOptions> options,
    TimeProvider time,
    ILogger<ConsistencyChecker> logger)
{
    /// <summary>
    /// An event-time guarded write: writes value and time only when the stored time is older or absent.
    /// KEYS: feature hash. ARGV: field, value, event time ms. Returns 1 when written, 0 when the stored value is as new.
    /// </summary>
    internal static readonly string WriteIfNewer = $"""
        local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1] .. '{FeatureFields.TimeSuffix}'))
        local t = tonumber(ARGV[3])
        if cur and cur >= t then return 0 end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], ARGV[1] .. '{FeatureFields.TimeSuffix}', ARGV[3])
        return 1
        """;

    private readonly IDatabase _db = redis.GetDatabase();
    private ConsistencyReport? _latest;

    /// <summary>The report of the latest check, null before the first.</summary>
    public ConsistencyReport? Latest => Volatile.Read(ref _latest);

    /// <summary>Runs one check: samples entities, compares, records the metric and alerts when over the ratio.</summary>
    public async Task<ConsistencyReport> CheckAsync(CancellationToken cancellationToken)
    {
        var (report, _) = await CompareAsync(cancellationToken);
        return report;
    }

    /// <summary>Checks, then writes online every offline value newer than the online one (the newer event time wins).</summary>
    public async Task<ReconcileReport> ReconcileAsync(CancellationToken cancellationToken)
    {
        var (report, mismatches) = await CompareAsync(cancellationToken);
        var newer = mismatches.Where(m => m.OfflineNewer).ToList();
        var batch = _db.CreateBatch();
        var writes = newer.Select(m => batch.ScriptEvaluateAsync(
            WriteIfNewer,
            [OnlineKeys.Features(m.EntityKind, m.EntityId)],
            [FieldOf(m), Number(m.Offline!.Value), m.Offline.EventTimeMs!.Value])).ToList();
        batch.Execute();
        await Task.WhenAll(writes);
        var written = writes.Count(w => (long)w.Result == 1);
        metrics.ConsistencyReconciled(written);
        LogReconciled(logger, newer.Count, written);
        return new ReconcileReport(report, newer.Count, written, newer.Count - written);
    }

    /// <summary>Whether an online and an offline value agree (relative tolerance for numbers, equality otherwise).</summary>
    public static bool ValuesMatch(double? online, double? offline, double tolerance) =>
        (online, offline) switch
        {
            (null, null) => true,
            (null, _) or (_, null) => false,
            ({ } a, { } b) => Math.Abs(a - b) / Math.Max(Math.Abs(b), 1e-6) < tolerance,
        };

    private string FieldOf(FeatureMismatch m) => plan.Stored.First(s => s.Name == m.Feature).Field;

    private async Task<(ConsistencyReport Report, List<FeatureMismatch> Mismatches)> CompareAsync(CancellationToken cancellationToken)
    {
        using var activity = FeatureStoreTelemetry.ActivitySource.StartActivity("check");
        var o = options.Value;
        var offline = await ReadOfflineLatestAsync(o.SampleSize, cancellationToken);
        var entities = offline.Keys.Select(k => (k.Kind, k.Id)).Distinct().ToList();
        var batch = _db.CreateBatch();
        var reads = new List<(string Kind, string Id, StoredFeatureFields Fields, Task<RedisValue[]> Values)>(entities.Count);
        foreach (var (kind, id) in entities)
        {
            var fields = StoredFeatureFields.For(plan, kind);
            reads.Add((kind, id, fields, batch.HashGetAsync(OnlineKeys.Features(kind, id), fields.HashFields)));
        }

        batch.Execute();
        await Task.WhenAll(reads.Select(r => r.Values));

        var mismatches = new List<FeatureMismatch>();
        var compared = 0;
        foreach (var (kind, id, fields, task) in reads)
        {
            var values = task.Result;
            for (var i = 0; i < fields.Features.Count; i++)
            {
                var feature = fields.Features[i];
                var online = TryNumber(values[2 * i], out var v) ? new TimedValue(v, TryNumber(values[(2 * i) + 1], out var t) ? (long)t : null) : null;
                var stored = offline.GetValueOrDefault((kind, id, feature.Name));
                compared++;
                if (!ValuesMatch(online?.Value, stored?.Value, o.Tolerance))
                {
                    mismatches.Add(new FeatureMismatch(kind, id, feature.Name, online, stored));
                }
            }
        }

        var ratio = entities.Count == 0 ? 0 : mismatches.Count / (double)entities.Count;
        var alert = ratio > o.AlertRatio;
        var report = new ConsistencyReport(
            time.GetUtcNow(),
            entities.Count,
            compared,
            mismatches.Count,
            mismatches.Select(m => (m.EntityKind, m.EntityId)).Distinct().Count(),
            ratio,
            alert,
            o.Tolerance,
            [.. mismatches.Take(o.Examples)]);
        metrics.ConsistencyChecked(mismatches.Count, ratio);
        activity?.SetTag("recsys.consistency.sampled", entities.Count);
        activity?.SetTag("recsys.consistency.mismatches", mismatches.Count);
        if (alert)
        {
            LogSkew(logger, mismatches.Count, entities.Count, ratio, o.AlertRatio, string.Join("; ", report.Examples.Take(5).Select(Describe)));
        }
        else
        {
            LogChecked(logger, entities.Count, compared, mismatches.Count);
        }

        Volatile.Write(ref _latest, report);
        return (report, mismatches);
    }

    /// <summary>Latest offline value per (kind, id, feature) for a random sample of the entities the offline store knows.</summary>
    private async Task<Dictionary<(string Kind, string Id, string Feature), TimedValue>> ReadOfflineLatestAsync(int sampleSize, CancellationToken cancellationToken)
    {
        var result = new Dictionary<(string, string, string), TimedValue>();
        if (!store.HasData() || plan.Stored.Count == 0)
        {
            return result;
        }

        var names = string.Join(", ", plan.Stored.Select(s => OfflineLayout.SqlString(s.Name)));
        var sql = $$"""
            WITH src AS (
              SELECT {{OfflineLayout.EntityKind}} AS kind, {{OfflineLayout.EntityId}} AS id, {{OfflineLayout.Feature}} AS feature,
                     {{OfflineLayout.Value}} AS value, {{OfflineLayout.EventTimeMs}} AS t, {{OfflineLayout.CreatedTimeMs}} AS c
              FROM {{OfflineLayout.ReadParquetSql(store.Directory)}}
              WHERE {{OfflineLayout.Value}} IS NOT NULL AND {{OfflineLayout.Feature}} IN ({{names}})),
            entities AS (SELECT DISTINCT kind, id FROM src),
            sample AS (SELECT * FROM entities USING SAMPLE reservoir({{sampleSize.ToString(CultureInfo.InvariantCulture)}} ROWS))
            SELECT src.kind, src.id, src.feature, max_by(src.value, {'t': src.t, 'c': src.c, 'v': src.value}), max(src.t)
            FROM src SEMI JOIN sample ON src.kind = sample.kind AND src.id = sample.id
            GROUP BY ALL
            """;
        await using var connection = new DuckDBConnection("DataSource=:memory:");
        await connection.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            result[(reader.GetString(0), reader.GetString(1), reader.GetString(2))] = new TimedValue(reader.GetDouble(3), reader.GetInt64(4));
        }

        return result;
    }

    private static string Describe(FeatureMismatch m) => string.Create(
        CultureInfo.InvariantCulture,
        $"{m.EntityKind}:{m.EntityId} {m.Feature} online {m.Online?.Value}@{m.Online?.EventTimeMs} offline {m.Offline?.Value}@{m.Offline?.EventTimeMs}");

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static bool TryNumber(RedisValue value, out double number)
    {
        number = 0;
        return !value.IsNullOrEmpty && double.TryParse((string?)value, NumberStyles.Float, CultureInfo.InvariantCulture, out number);
    }

    /// <summary>The stored features of one kind and their online fields (<c>name</c>, <c>name@t</c> per feature).</summary>
    private sealed record StoredFeatureFields(IReadOnlyList<StoredFeature> Features, RedisValue[] HashFields)
    {
        public static StoredFeatureFields For(OfflineFeaturePlan plan, string kind)
        {
            var features = plan.Stored.Where(s => s.EntityKind == kind).ToList();
            return new StoredFeatureFields(features, [.. features.SelectMany(f => new RedisValue[] { f.Field, f.Field + FeatureFields.TimeSuffix })]);
        }
    }

    [LoggerMessage(EventId = 650, Level = LogLevel.Warning, Message = "Feature skew detected: {Mismatches} inconsistent values over {Sampled} sampled entities (ratio {Ratio:F4} > {Threshold}); e.g. {Examples}")]
    private static partial void LogSkew(ILogger logger, int mismatches, int sampled, double ratio, double threshold, string examples);

    [LoggerMessage(EventId = 651, Level = LogLevel.Information, Message = "Consistency check: {Sampled} entities, {Compared} values compared, {Mismatches} inconsistent")]
    private static partial void LogChecked(ILogger logger, int sampled, int compared, int mismatches);

    [LoggerMessage(EventId = 652, Level = LogLevel.Information, Message = "Reconciled online with offline: {Newer} offline values newer, {Written} written")]
    private static partial void LogReconciled(ILogger logger, int newer, int written);
}
