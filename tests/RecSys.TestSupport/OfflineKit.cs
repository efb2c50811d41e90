using DuckDB.NET.Data;
using Microsoft.Extensions.Logging.Abstractions;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.OfflineStore;
using RecSys.FeatureStore.Registry;
using RecSys.FeatureStore.Streaming;

namespace RecSys.TestSupport;

/// <summary>
/// A temporary folder with an offline store (and, when asked, an event log) for one test, and the helpers that read what the
/// offline store wrote. Shared by the engine tests and the FeatureServer API tests.
/// </summary>
public sealed class OfflineKit : IDisposable
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
