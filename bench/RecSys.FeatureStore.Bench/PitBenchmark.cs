using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using DuckDB.NET.Data;
using RecSys.Bench.Common;
using RecSys.FeatureStore.OfflineStore;
using RecSys.FeatureStore.Registry;
using RecSys.FeatureStore.Streaming;

namespace RecSys.FeatureStore.Bench;

/// <summary>
/// <c>pit</c>: writes a seeded offline store (feature rows over date partitions, a small share created late) with our
/// writer, then times our <see cref="TrainingSetBuilder"/> and a hand-written DuckDB ASOF LEFT JOIN (the floor) on the
/// same files, and checks a sample of our output against a brute-force point-in-time lookup.
/// </summary>
internal static class PitBenchmark
{
    private sealed record Options(int Labels, int Rows, int Entities, int Features, int Days, int Repetitions, double LateShare, int Seed, string Directory, int Sample, bool Keep);

    public static async Task<int> RunAsync(ParsedArguments args)
    {
        var o = Parse(args);
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(inv, $"pit: {o.Labels:N0} labels, {o.Rows:N0} feature rows, {o.Entities:N0} entities, {o.Features} features, {o.Days} days, late share {o.LateShare:P1}, seed {o.Seed}, {Environment.ProcessorCount} cores, dir {o.Directory}"));
        if (Directory.Exists(o.Directory))
        {
            Directory.Delete(o.Directory, recursive: true);
        }

        var offline = Path.Combine(o.Directory, "offline");
        var store = new ParquetOfflineStore(offline);
        var features = Features(o.Features);
        var start = new DateTimeOffset(2026, 10, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();
        var span = (long)TimeSpan.FromDays(o.Days).TotalMilliseconds;

        // Feature rows, written in chunks as a sink would (one file per date per chunk).
        var random = new Random(o.Seed);
        var all = new FeatureRow[o.Rows];
        var perKind = o.Entities / 2;
        for (var i = 0; i < o.Rows; i++)
        {
            var feature = features[random.Next(features.Count)];
            var entity = random.Next(perKind);
            var t = start + random.NextInt64(span);
            var late = random.NextDouble() < o.LateShare;
            var created = t + (late ? random.NextInt64(TimeSpan.FromDays(2).Ticks / TimeSpan.TicksPerMillisecond) : random.Next(5_000));
            var prefix = feature.EntityKind == EntityKinds.User ? "u" : "i";
            all[i] = new FeatureRow(feature.EntityKind, prefix + entity.ToString(inv), feature.Name, Math.Round(random.NextDouble() * 1000, 3), null, t, created);
        }

        var write = Stopwatch.StartNew();
        const int chunk = 1_000_000;
        for (var s = 0; s < all.Length; s += chunk)
        {
            await store.WriteAsync(new ArraySegment<FeatureRow>(all, s, Math.Min(chunk, all.Length - s)), CancellationToken.None);
        }

        write.Stop();
        var files = Directory.EnumerateFiles(offline, "*.parquet", SearchOption.AllDirectories).ToList();
        Console.WriteLine(string.Create(inv, $"write: {o.Rows:N0} rows in {files.Count} files, {files.Sum(f => new FileInfo(f).Length) / 1048576.0:F1} MiB, {write.Elapsed.TotalSeconds:F2} s ({o.Rows / write.Elapsed.TotalSeconds:N0} rows/s)"));

        var labels = new LabelRow[o.Labels];
        for (var i = 0; i < o.Labels; i++)
        {
            labels[i] = new LabelRow("u" + random.Next(perKind).ToString(inv), "i" + random.Next(perKind).ToString(inv), null, start + random.NextInt64(span), random.Next(2));
        }

        var labelsFile = Path.Combine(o.Directory, "labels.parquet");
        await WriteLabelsAsync(labels, labelsFile);

        var builder = new TrainingSetBuilder(store);
        var ours = new List<double>();
        var hashes = new HashSet<string>(StringComparer.Ordinal);
        var oursFile = Path.Combine(o.Directory, "ours.parquet");
        TrainingSetStats? stats = null;
        var raw = new List<double>();
        var rawTable = new List<double>();
        var cpu = new Dictionary<string, List<double>> { ["ours"] = [], ["raw"] = [], ["rawTable"] = [] };
        var process = System.Diagnostics.Process.GetCurrentProcess();
        double Cpu()
        {
            process.Refresh();
            return process.TotalProcessorTime.TotalSeconds;
        }

        var rawFile = Path.Combine(o.Directory, "raw.parquet");
        for (var r = 0; r < o.Repetitions; r++)
        {
            File.Delete(oursFile);
            var sw = Stopwatch.StartNew();
            var c0 = Cpu();
            stats = await builder.BuildAsync(labels, features, oursFile, CancellationToken.None);
            ours.Add(sw.Elapsed.TotalSeconds);
            cpu["ours"].Add(Cpu() - c0);
            hashes.Add(Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(oursFile))));

            File.Delete(rawFile);
            sw.Restart();
            c0 = Cpu();
            await RawAsync(offline, labelsFile, features, rawFile, materialize: false);
            raw.Add(sw.Elapsed.TotalSeconds);
            cpu["raw"].Add(Cpu() - c0);

            File.Delete(rawFile);
            sw.Restart();
            c0 = Cpu();
            await RawAsync(offline, labelsFile, features, rawFile, materialize: true);
            rawTable.Add(sw.Elapsed.TotalSeconds);
            cpu["rawTable"].Add(Cpu() - c0);
            Console.WriteLine(string.Create(inv, $"rep {r + 1}: ours {ours[^1]:F2} s (cpu {cpu["ours"][^1]:F1} s), raw DuckDB over read_parquet {raw[^1]:F2} s (cpu {cpu["raw"][^1]:F1} s), raw DuckDB over a loaded table {rawTable[^1]:F2} s (cpu {cpu["rawTable"][^1]:F1} s)"));
            Console.WriteLine("  ours by step: " + string.Join(", ", stats.Steps.Select(x => string.Create(inv, $"{x.Name} {x.Elapsed.TotalSeconds:F2} s"))));
        }

        var oursMedian = Median(ours);
        Console.WriteLine(string.Create(inv, $"raw DuckDB, ASOF joins over read_parquet: median {Median(raw):F2} s (min {raw.Min():F2})"));
        Console.WriteLine(string.Create(inv, $"raw DuckDB, rows loaded into a table first (load included): median {Median(rawTable):F2} s (min {rawTable.Min():F2})"));
        var rawMedian = Math.Min(Median(raw), Median(rawTable));
        Console.WriteLine(string.Create(inv, $"ours: median {oursMedian:F2} s (min {ours.Min():F2}), late rows excluded {stats!.LateRowsExcluded:N0}, outputs byte-identical across runs: {hashes.Count == 1}"));
        Console.WriteLine(string.Create(inv, $"ratio ours / faster raw (medians): {oursMedian / rawMedian:F2}x (goal <= 1.5x)"));
        var cpuRaw = Math.Min(Median(cpu["raw"]), Median(cpu["rawTable"]));
        Console.WriteLine(string.Create(inv, $"cpu time (process, all threads), medians: ours {Median(cpu["ours"]):F1} s, raw over read_parquet {Median(cpu["raw"]):F1} s, raw over a table {Median(cpu["rawTable"]):F1} s; ratio ours / faster raw {Median(cpu["ours"]) / cpuRaw:F2}x"));

        var (checkedValues, mismatches, rawDiffers) = await CheckAsync(all, labels, features, oursFile, rawFile, o.Sample, o.Seed);
        Console.WriteLine(string.Create(inv, $"check: {checkedValues:N0} values of {o.Sample:N0} sampled labels against brute force: {mismatches} mismatches; raw differs from the leak-free answer on {rawDiffers:N0} of them (late rows)"));
        if (!o.Keep)
        {
            Directory.Delete(o.Directory, recursive: true);
        }

        return mismatches == 0 && hashes.Count == 1 ? 0 : 1;
    }

    /// <summary>Half user, half item all-time counters, through a registry and its offline plan as the server does.</summary>
    private static List<OfflineFeature> Features(int count)
    {
        var definitions = new List<FeatureDefinition>(count);
        for (var k = 0; k < count; k++)
        {
            var kind = k % 2 == 0 ? EntityKinds.User : EntityKinds.Item;
            var name = $"{kind}_f{k / 2}";
            definitions.Add(new FeatureDefinition(name, kind, FeatureValueType.Number, new AggregateTransform(name, [], EventAmount.One, null), null, null, 0, "Synthetic."));
        }

        var plan = new OfflineFeaturePlan(new FeatureRegistry(definitions));
        return [.. definitions.Select(d => plan.TryGet(d.Name, out var f) ? f : throw new InvalidOperationException(d.Name))];
    }

    private static async Task WriteLabelsAsync(LabelRow[] labels, string path)
    {
        await using var connection = new DuckDBConnection("DataSource=:memory:");
        await connection.OpenAsync();
        await using (var create = connection.CreateCommand())
        {
            create.CommandText = "CREATE TABLE labels (idx BIGINT, user_id VARCHAR, item_id VARCHAR, creator_id VARCHAR, ts BIGINT, label DOUBLE)";
            await create.ExecuteNonQueryAsync();
        }

        using (var appender = connection.CreateAppender("labels"))
        {
            for (var i = 0; i < labels.Length; i++)
            {
                appender.CreateRow().AppendValue((long?)i).AppendValue(labels[i].UserId).AppendValue(labels[i].ItemId).AppendValue((string?)null)
                    .AppendValue((long?)labels[i].EventTimeMs).AppendValue((double?)labels[i].Label).EndRow();
            }
        }

        await using var copy = connection.CreateCommand();
        copy.CommandText = $"COPY labels TO {OfflineLayout.SqlString(path)} (FORMAT parquet)";
        await copy.ExecuteNonQueryAsync();
    }

    /// <summary>The floor: the ASOF LEFT JOIN one would write by hand (no created-time exclusion, no tie order).</summary>
    private static async Task RawAsync(string offline, string labelsFile, List<OfflineFeature> features, string output, bool materialize)
    {
        var sql = new StringBuilder();
        var source = materialize ? "rows" : OfflineLayout.ReadParquetSql(offline);
        if (materialize)
        {
            sql.Append(CultureInfo.InvariantCulture, $"CREATE TABLE rows AS SELECT entity_id, feature, event_time_ms, value FROM {OfflineLayout.ReadParquetSql(offline)}; ");
        }

        sql.Append("COPY (SELECT l.idx, l.user_id, l.item_id, l.creator_id, make_timestamp(l.ts * 1000) AS event_time, l.label");
        for (var k = 0; k < features.Count; k++)
        {
            sql.Append(CultureInfo.InvariantCulture, $", coalesce(f{k}.value, 0) AS \"{features[k].Name}\"");
        }

        sql.Append(CultureInfo.InvariantCulture, $" FROM read_parquet({OfflineLayout.SqlString(labelsFile)}) l");
        for (var k = 0; k < features.Count; k++)
        {
            var column = features[k].EntityKind == EntityKinds.User ? "user_id" : "item_id";
            sql.Append(CultureInfo.InvariantCulture, $"""

                ASOF LEFT JOIN (SELECT entity_id, event_time_ms, value FROM {source} WHERE feature = '{features[k].Name}') f{k}
                  ON l.{column} = f{k}.entity_id AND l.ts >= f{k}.event_time_ms
                """);
        }

        sql.Append(CultureInfo.InvariantCulture, $" ORDER BY l.idx) TO {OfflineLayout.SqlString(output)} (FORMAT parquet, COMPRESSION snappy)");
        await using var connection = new DuckDBConnection("DataSource=:memory:");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql.ToString();
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<(int Checked, int Mismatches, int RawDiffers)> CheckAsync(
        FeatureRow[] all, LabelRow[] labels, List<OfflineFeature> features, string oursFile, string rawFile, int sample, int seed)
    {
        var index = all.GroupBy(r => (r.Feature, r.EntityId)).ToDictionary(g => g.Key, g => g.ToArray());
        var random = new Random(seed + 1);
        var picked = Enumerable.Range(0, sample).Select(_ => (long)random.Next(labels.Length)).Distinct().Order().ToList();
        await using var connection = new DuckDBConnection("DataSource=:memory:");
        await connection.OpenAsync();
        var ours = await ReadRowsAsync(connection, oursFile, "label_index", picked, features);
        var raw = await ReadRowsAsync(connection, rawFile, "idx", picked, features);
        int checkedValues = 0, mismatches = 0, rawDiffers = 0;
        foreach (var idx in picked)
        {
            var label = labels[idx];
            for (var k = 0; k < features.Count; k++)
            {
                var feature = features[k];
                var id = feature.EntityKind == EntityKinds.User ? label.UserId! : label.ItemId!;
                var expected = 0d;
                if (index.TryGetValue((feature.Name, id), out var rows))
                {
                    FeatureRow? best = null;
                    foreach (var row in rows)
                    {
                        if (row.EventTimeMs <= label.EventTimeMs && row.CreatedTimeMs <= label.EventTimeMs
                            && (best is not { } b || (row.EventTimeMs, row.CreatedTimeMs, row.Value ?? 0).CompareTo((b.EventTimeMs, b.CreatedTimeMs, b.Value ?? 0)) > 0))
                        {
                            best = row;
                        }
                    }

                    expected = best?.Value ?? 0;
                }

                checkedValues++;
                if (ours[idx][k] != expected)
                {
                    mismatches++;
                }

                if (raw[idx][k] != expected)
                {
                    rawDiffers++;
                }
            }
        }

        return (checkedValues, mismatches, rawDiffers);
    }

    private static async Task<Dictionary<long, double[]>> ReadRowsAsync(DuckDBConnection connection, string file, string indexColumn, List<long> picked, List<OfflineFeature> features)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {indexColumn}, {string.Join(", ", features.Select(f => $"\"{f.Name}\""))} FROM read_parquet({OfflineLayout.SqlString(file)}) WHERE {indexColumn} IN ({string.Join(",", picked)})";
        var result = new Dictionary<long, double[]>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var values = new double[features.Count];
            for (var k = 0; k < features.Count; k++)
            {
                values[k] = reader.GetDouble(k + 1);
            }

            result[reader.GetInt64(0)] = values;
        }

        return result;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }

    /// <summary>The options of <c>pit</c>.</summary>
    public static BenchCommandLine BenchCommandLine { get; } = new BenchCommandLine("RecSys.FeatureStore.Bench pit [options]")
        .Option("--labels", "N", "label rows (default 1000000)")
        .Option("--rows", "N", "feature rows (default 5000000)")
        .Option("--entities", "N", "entities, half users and half items (default 200000)")
        .Option("--features", "N", "features (default 20)")
        .Option("--days", "N", "days of event time (default 30)")
        .Option("--reps", "N", "timed repetitions of each join (default 3)")
        .Option("--late", "SHARE", "share of rows created late, up to 2 days after their event (default 0.005)")
        .Option("--seed", "N", "random seed (default 42)")
        .Option("--dir", "PATH", "working folder, deleted first (default $TMPDIR/recsys-pit-bench)")
        .Option("--sample", "N", "output rows checked against brute force (default 2000)")
        .Flag("--keep", "keep the working folder");

    private static Options Parse(ParsedArguments args)
    {
        var o = new Options(
            args.GetInt("--labels", 1_000_000),
            args.GetInt("--rows", 5_000_000),
            args.GetInt("--entities", 200_000),
            args.GetInt("--features", 20),
            args.GetInt("--days", 30),
            args.GetInt("--reps", 3),
            args.GetDouble("--late", 0.005),
            args.GetInt("--seed", 42),
            Path.GetFullPath(args.GetString("--dir", Path.Combine(Path.GetTempPath(), "recsys-pit-bench"))),
            args.GetInt("--sample", 2_000),
            args.Has("--keep"));
        ParsedArguments.Require(o.Labels > 0 && o.Rows > 0 && o.Entities >= 2 && o.Features > 0 && o.Days > 0 && o.Repetitions > 0, "counts must be positive");
        return o;
    }
}
