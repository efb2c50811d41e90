using DuckDB.NET.Data;
using Microsoft.Extensions.Logging.Abstractions;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.OfflineStore;
using RecSys.FeatureStore.Registry;
using RecSys.FeatureStore.Streaming;
using RecSys.TestSupport;

namespace RecSys.FeatureServer.Tests.OfflineStore;

/// <summary>A temporary folder with an offline store (and, when asked, an event log) for one test.</summary>
internal sealed class OfflineKit : IDisposable
{
    public OfflineKit()
    {
        Root = Path.Combine(Path.GetTempPath(), "recsys-offline-" + Guid.NewGuid().ToString("N"));
        Store = new ParquetOfflineStore(Path.Combine(Root, "offline"), rowGroupSize: 1_000);
    }

    public static readonly FeatureRegistry Registry = new();

    public static readonly OfflineFeaturePlan Plan = new(Registry);

    public string Root { get; }

    public ParquetOfflineStore Store { get; }

    public static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();

    public static OfflineFeature Feature(string name) =>
        Plan.TryGet(name, out var feature) ? feature : throw new ArgumentException($"'{name}' is not offline.", nameof(name));

    public FasterEventLog OpenLog() => new(Path.Combine(Root, "log"), NullLogger<FasterEventLog>.Instance);

    /// <summary>Applies the whole log to the online store through the real applier, batch by batch as the processor does.</summary>
    public static async Task ApplyOnlineAsync(IEventLog log, EmbeddedGarnet garnet, int batchSize = 64)
    {
        var applier = Infrastructure.Applier(garnet);
        var position = await applier.InitializeAsync();
        while (position.Ordinal < log.TailPosition)
        {
            var batch = await log.ReadAsync(position, batchSize, CancellationToken.None);
            var result = await applier.ApplyAsync(batch.Entries, position, batch.NextPosition);
            Assert.True(result.Committed);
            position = batch.NextPosition;
        }
    }

    /// <summary>Runs a query over a Parquet file and returns its rows as arrays of values.</summary>
    public static async Task<List<object?[]>> QueryAsync(string sql)
    {
        await using var connection = new DuckDBConnection("DataSource=:memory:");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        var rows = new List<object?[]>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var row = new object?[reader.FieldCount];
            for (var i = 0; i < row.Length; i++)
            {
                row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            }

            rows.Add(row);
        }

        return rows;
    }

    public static string Sql(string text) => OfflineLayout.SqlString(text);

    public static FeatureRow Row(string kind, string id, string feature, double value, long eventMs, long createdMs) =>
        new(kind, id, feature, value, null, eventMs, createdMs);

    public static FeatureRow UserRow(string id, string feature, double value, long eventMs, long? createdMs = null) =>
        Row(EntityKinds.User, id, feature, value, eventMs, createdMs ?? eventMs);

    public void Dispose()
    {
        if (Directory.Exists(Root))
        {
            Directory.Delete(Root, recursive: true);
        }
    }
}
