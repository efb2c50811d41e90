using System.Globalization;
using Microsoft.Extensions.Options;
using Parquet;
using Parquet.Schema;

namespace RecSys.FeatureStore.OfflineStore;

/// <summary>The append-only offline store of feature values: Parquet files partitioned by the date of their event time.</summary>
public interface IOfflineFeatureStore
{
    /// <summary>Root folder: <c>date=YYYY-MM-DD/part-*.parquet</c> below it.</summary>
    string Directory { get; }

    /// <summary>
    /// Writes the rows durably, one new file per event date touched, and returns the paths written. A file appears under
    /// its final name only once complete (written under a temporary name, flushed to disk, then renamed).
    /// </summary>
    Task<IReadOnlyList<string>> WriteAsync(IReadOnlyList<FeatureRow> rows, CancellationToken cancellationToken);

    /// <summary>Whether any data file exists.</summary>
    bool HasData();
}

/// <summary>File layout of the offline store, shared by the writer and the DuckDB readers.</summary>
public static class OfflineLayout
{
    public const string EntityKind = "entity_kind";
    public const string EntityId = "entity_id";
    public const string Feature = "feature";
    public const string Value = "value";
    public const string Ids = "ids";
    public const string EventTimeMs = "event_time_ms";
    public const string CreatedTimeMs = "created_time_ms";

    /// <summary>Hive partition column added by DuckDB from the folder names.</summary>
    public const string Date = "date";

    public const string FilePattern = "part-*.parquet";

    public static string PartitionName(DateOnly date) => $"date={date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}";

    public static DateOnly DateOf(long eventTimeMs) => DateOnly.FromDateTime(DateTimeOffset.FromUnixTimeMilliseconds(eventTimeMs).UtcDateTime);

    /// <summary>The DuckDB table function over every data file of <paramref name="directory"/>.</summary>
    public static string ReadParquetSql(string directory) =>
        $"read_parquet({SqlString(Path.Combine(directory, "date=*", FilePattern))}, hive_partitioning = true, hive_types = {{'{Date}': DATE}})";

    /// <summary>Whether <paramref name="directory"/> holds at least one data file.</summary>
    public static bool HasData(string directory) =>
        System.IO.Directory.Exists(directory)
        && System.IO.Directory.EnumerateFiles(directory, FilePattern, SearchOption.AllDirectories).Any();

    public static string SqlString(string text) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";
}

/// <summary>Writes <see cref="FeatureRow"/>s to Parquet with Parquet.Net (Snappy, row groups of a bounded size).</summary>
public sealed class ParquetOfflineStore : IOfflineFeatureStore
{
    private static readonly DataField<string> EntityKindField = new(OfflineLayout.EntityKind, false);
    private static readonly DataField<string> EntityIdField = new(OfflineLayout.EntityId, false);
    private static readonly DataField<string> FeatureField = new(OfflineLayout.Feature, false);
    private static readonly DataField<double?> ValueField = new(OfflineLayout.Value, true);
    private static readonly DataField<string> IdsField = new(OfflineLayout.Ids, true);
    private static readonly DataField<long> EventTimeField = new(OfflineLayout.EventTimeMs, false);
    private static readonly DataField<long> CreatedTimeField = new(OfflineLayout.CreatedTimeMs, false);

    private static readonly ParquetSchema Schema = new(
        EntityKindField, EntityIdField, FeatureField, ValueField, IdsField, EventTimeField, CreatedTimeField);

    private readonly int _rowGroupSize;
    private long _sequence;

    public ParquetOfflineStore(string directory, int rowGroupSize = 100_000)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rowGroupSize);
        Directory = Path.GetFullPath(directory);
        _rowGroupSize = rowGroupSize;
        System.IO.Directory.CreateDirectory(Directory);
    }

    public ParquetOfflineStore(IOptions<OfflineStoreOptions> options, IOptions<FeatureStoreOptions> server, IHostEnvironment environment)
        : this(ResolveDirectory(options.Value, server.Value, environment.ContentRootPath), options.Value.RowGroupSize)
    {
    }

    public string Directory { get; }

    public static string ResolveDirectory(OfflineStoreOptions options, FeatureStoreOptions server, string contentRoot)
    {
        if (!string.IsNullOrWhiteSpace(options.Directory))
        {
            return Path.IsPathRooted(options.Directory) ? options.Directory : Path.Combine(contentRoot, options.Directory);
        }

        var data = Path.IsPathRooted(server.DataDirectory) ? server.DataDirectory : Path.Combine(contentRoot, server.DataDirectory);
        return Path.Combine(data, "offline");
    }

    public bool HasData() => OfflineLayout.HasData(Directory);

    public async Task<IReadOnlyList<string>> WriteAsync(IReadOnlyList<FeatureRow> rows, CancellationToken cancellationToken)
    {
        if (rows.Count == 0)
        {
            return [];
        }

        // One file per date; rows sorted so that row-group statistics (kind, feature, id, time) prune well.
        var byDate = new SortedDictionary<DateOnly, List<FeatureRow>>();
        foreach (var row in rows)
        {
            var date = OfflineLayout.DateOf(row.EventTimeMs);
            if (!byDate.TryGetValue(date, out var list))
            {
                byDate[date] = list = [];
            }

            list.Add(row);
        }

        var written = new List<string>(byDate.Count);
        foreach (var (date, list) in byDate)
        {
            list.Sort(RowOrder.Instance);
            written.Add(await WriteFileAsync(date, list, cancellationToken));
        }

        return written;
    }

    private async Task<string> WriteFileAsync(DateOnly date, List<FeatureRow> rows, CancellationToken cancellationToken)
    {
        var folder = Path.Combine(Directory, OfflineLayout.PartitionName(date));
        System.IO.Directory.CreateDirectory(folder);
        var sequence = Interlocked.Increment(ref _sequence);
        var name = string.Create(
            CultureInfo.InvariantCulture,
            $"part-{DateTime.UtcNow:yyyyMMddHHmmssfff}-{Environment.ProcessId}-{sequence:D6}-{Guid.NewGuid():N}.parquet");
        var final = Path.Combine(folder, name);
        var temp = final + ".tmp";
        try
        {
            await using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                var options = new ParquetOptions { CompressionMethod = CompressionMethod.Snappy };
                await using (var writer = await ParquetWriter.CreateAsync(Schema, stream, options, cancellationToken: cancellationToken))
                {
                    for (var start = 0; start < rows.Count; start += _rowGroupSize)
                    {
                        var count = Math.Min(_rowGroupSize, rows.Count - start);
                        await WriteRowGroupAsync(writer, rows, start, count, cancellationToken);
                    }
                }

                await stream.FlushAsync(cancellationToken);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, final);
            return final;
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    private static async Task WriteRowGroupAsync(ParquetWriter writer, List<FeatureRow> rows, int start, int count, CancellationToken cancellationToken)
    {
        var kinds = new string[count];
        var ids = new string[count];
        var features = new string[count];
        var values = new double?[count];
        var lists = new string?[count];
        var eventTimes = new long[count];
        var createdTimes = new long[count];
        for (var i = 0; i < count; i++)
        {
            var row = rows[start + i];
            kinds[i] = row.EntityKind;
            ids[i] = row.EntityId;
            features[i] = row.Feature;
            values[i] = row.Value;
            lists[i] = row.Ids;
            eventTimes[i] = row.EventTimeMs;
            createdTimes[i] = row.CreatedTimeMs;
        }

        using var group = writer.CreateRowGroup();
        await group.WriteAsync(EntityKindField, kinds);
        await group.WriteAsync(EntityIdField, ids);
        await group.WriteAsync(FeatureField, features);
        await group.WriteAsync<double>(ValueField, values.AsMemory(), cancellationToken: cancellationToken);
        await group.WriteAsync(IdsField, lists!);
        await group.WriteAsync<long>(EventTimeField, eventTimes.AsMemory(), cancellationToken: cancellationToken);
        await group.WriteAsync<long>(CreatedTimeField, createdTimes.AsMemory(), cancellationToken: cancellationToken);
    }

    private sealed class RowOrder : IComparer<FeatureRow>
    {
        public static readonly RowOrder Instance = new();

        public int Compare(FeatureRow x, FeatureRow y)
        {
            var c = string.CompareOrdinal(x.EntityKind, y.EntityKind);
            if (c == 0)
            {
                c = string.CompareOrdinal(x.Feature, y.Feature);
            }

            if (c == 0)
            {
                c = string.CompareOrdinal(x.EntityId, y.EntityId);
            }

            if (c == 0)
            {
                c = x.EventTimeMs.CompareTo(y.EventTimeMs);
            }

            return c == 0 ? x.CreatedTimeMs.CompareTo(y.CreatedTimeMs) : c;
        }
    }
}
