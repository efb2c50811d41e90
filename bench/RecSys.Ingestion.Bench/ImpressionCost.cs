using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using DuckDB.NET.Data;
using RecSys.Core.Contracts;
using RecSys.FeatureStore.OfflineStore;
using StackExchange.Redis;

namespace RecSys.Ingestion.Bench;

/// <summary>
/// What impression logging costs the FeatureServer and the online store: a FeatureServer build (separate process) and the
/// Garnet host (RecSys.OnlineStore, separate process, command counting on) receive impression batches shaped like Ranking's
/// (lists of distinct items per user and request id, a few clicks, now and then a list sent again), one POST at a time, each
/// applied and captured before the next, so that every build sees the same processor batches. Reported per 1,000 events
/// after a warm-up: store commands by name, CPU-ms of both processes; then the online state (every key, dumped) and the
/// offline rows (creation time left out) are written out with their digests, to compare builds.
/// </summary>
internal static class ImpressionCost
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public static async Task<int> RunAsync(string[] args)
    {
        var o = Options.Parse(args);
        Directory.CreateDirectory(o.Out);
        var data = Path.Combine(o.Out, "data");
        if (Directory.Exists(data))
        {
            Directory.Delete(data, recursive: true);
        }

        Console.WriteLine($"# Impression cost ({DateTime.UtcNow:yyyy-MM-dd HH:mm:ss} UTC): server {o.Server}");
        Console.WriteLine($"warm-up {o.Warmup} + measured {o.Requests} requests of {o.Lists} lists x {o.Items} items; clicks {o.ClickShare:P0} of lists; every {o.ResendEvery}th request resends a list");
        using var store = Start("store", o.Store, o.StoreHttpPort, new()
        {
            ["OnlineStore__Port"] = o.StorePort.ToString(CultureInfo.InvariantCulture),
            ["OnlineStore__CommandStats"] = "true",
            ["OnlineStore__MemorySize"] = "2g",
        }, o.Environment("--store-env"));
        var endpoint = $"127.0.0.1:{o.StorePort}";
        using var redis = await ConnectAsync(endpoint);
        var db = redis.GetDatabase();
        var admin = redis.GetServer(endpoint);
        using var server = Start("featureserver", o.Server, o.HttpPort, new()
        {
            ["ConnectionStrings__online-store"] = endpoint,
            ["FeatureServer__DataDirectory"] = data,
            ["FeatureServer__Consistency__Enabled"] = "false",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["RecSys__Security__Mode"] = "Open",
            ["OTEL_SDK_DISABLED"] = "true",
            ["Logging__LogLevel__Default"] = "Warning",
        }, o.Environment("--server-env"));
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{o.HttpPort}"), Timeout = TimeSpan.FromSeconds(60) };
        await WaitHttpAsync(http, "/v1/status");

        var items = Enumerable.Range(0, o.Catalog).Select(i => (ItemDto?)new ItemDto(
            $"i{i}", $"c{i % 200}", [$"cat{i % 12}"], ["t"], T0.AddDays(-1).AddSeconds(i), true, null)).ToList();
        foreach (var chunk in items.Chunk(1_000))
        {
            using var response = await http.PutAsJsonAsync("/v1/items", new ItemBatchRequest(chunk), Json);
            response.EnsureSuccessStatusCode();
        }

        var polls = 0;
        await WaitAppliedAsync(db, records: o.Catalog, events: 0, () => polls++);
        var workload = new Requests(o);
        long events = 0;
        for (var r = 0; r < o.Warmup; r++)
        {
            events += await SendAsync(http, db, workload.Next(), events, () => polls++);
        }

        var before = await SnapshotAsync(admin, store, server);
        var measuredFrom = events;
        var clock = Stopwatch.StartNew();
        for (var r = 0; r < o.Requests; r++)
        {
            events += await SendAsync(http, db, workload.Next(), events, () => polls++);
        }

        // The capture of the last batch runs after its commit.
        await Task.Delay(300);
        var after = await SnapshotAsync(admin, store, server);
        var measured = events - measuredFrom;
        var perK = 1_000.0 / measured;
        Console.WriteLine($"measured {measured:N0} events in {clock.Elapsed.TotalSeconds:F1} s ({o.Requests} requests; {polls:N0} HGETALL polls of the bench over the whole run, left out below)");
        var commands = after.Commands.Keys.Union(before.Commands.Keys)
            .Select(c => (Name: c, Calls: after.Commands.GetValueOrDefault(c) - before.Commands.GetValueOrDefault(c)))
            .Where(c => c.Calls > 0 && c.Name is not ("hgetall" or "info" or "ping" or "client" or "cluster" or "config" or "subscribe" or "echo"))
            .OrderByDescending(c => c.Calls).ToList();
        Console.WriteLine($"store commands per event: {commands.Sum(c => c.Calls) / (double)measured:F3} ({string.Join(", ", commands.Select(c => $"{c.Name} {c.Calls / (double)measured:F3}"))})");
        Console.WriteLine($"CPU-ms per 1,000 events: store {(after.StoreCpuMs - before.StoreCpuMs) * perK:F1}, FeatureServer {(after.ServerCpuMs - before.ServerCpuMs) * perK:F1}");

        server.Stop();
        var state = await DumpStateAsync(admin, db, Path.Combine(o.Out, "online-state.txt"));
        var rows = await DumpRowsAsync(Path.Combine(data, "offline"), Path.Combine(o.Out, "offline-rows.txt"));
        Console.WriteLine($"online state: {state.Lines:N0} keys, sha256 {state.Digest}");
        Console.WriteLine($"offline rows: {rows.Lines:N0} rows, sha256 {rows.Digest} (creation time left out)");
        Directory.Delete(data, recursive: true);
        return 0;
    }

    private static async Task<long> SendAsync(HttpClient http, IDatabase db, List<EventDto?> batch, long appliedSoFar, Action poll)
    {
        using var response = await http.PostAsJsonAsync("/v1/events", new EventBatchRequest(batch), Json);
        response.EnsureSuccessStatusCode();
        await WaitAppliedAsync(db, records: -1, events: appliedSoFar + batch.Count, poll);
        return batch.Count;
    }

    /// <summary>Polls the processor totals until the events (applied + duplicates; and records when asked) reach the counts.</summary>
    private static async Task WaitAppliedAsync(IDatabase db, long records, long events, Action poll)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            poll();
            var stats = (await db.HashGetAllAsync("proc:stats")).ToDictionary(e => (string)e.Name!, e => (long)e.Value);
            var done = stats.GetValueOrDefault("events_applied") + stats.GetValueOrDefault("duplicates_skipped");
            if (done >= events && (records < 0 || stats.GetValueOrDefault("records_applied") >= records))
            {
                return;
            }

            if (clock.Elapsed > TimeSpan.FromMinutes(2))
            {
                throw new TimeoutException($"The processor did not apply {events} events ({done} so far).");
            }

            await Task.Delay(5);
        }
    }

    private sealed record Snapshot(Dictionary<string, long> Commands, double StoreCpuMs, double ServerCpuMs);

    private static async Task<Snapshot> SnapshotAsync(IServer admin, Child store, Child server)
    {
        var info = await admin.InfoRawAsync("commandstats");
        var commands = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in (info ?? string.Empty).Split('\n'))
        {
            // cmdstat_<name>:calls=<n>,...
            var trimmed = line.Trim();
            if (trimmed.StartsWith("cmdstat_", StringComparison.Ordinal) && trimmed.IndexOf(":calls=", StringComparison.Ordinal) is var at and > 0)
            {
                var rest = trimmed[(at + 7)..];
                var end = rest.IndexOf(',', StringComparison.Ordinal);
                commands[trimmed[8..at].ToLowerInvariant()] = long.Parse(end < 0 ? rest : rest[..end], CultureInfo.InvariantCulture);
            }
        }

        return new Snapshot(commands, store.CpuMs(), server.CpuMs());
    }

    /// <summary>Every key with its type and content (sorted members, fields and scores), sorted; TTLs left out.</summary>
    private static async Task<(int Lines, string Digest)> DumpStateAsync(IServer admin, IDatabase db, string path)
    {
        var lines = new List<string>();
        foreach (var key in admin.Keys(pageSize: 1_000).ToList())
        {
            var type = await db.KeyTypeAsync(key);
            string content = type switch
            {
                RedisType.String => (string?)await db.StringGetAsync(key) ?? string.Empty,
                RedisType.Hash => string.Join(' ', (await db.HashGetAllAsync(key)).Select(e => $"{e.Name}={e.Value}").Order(StringComparer.Ordinal)),
                RedisType.Set => string.Join(' ', (await db.SetMembersAsync(key)).Select(v => (string)v!).Order(StringComparer.Ordinal)),
                RedisType.SortedSet => string.Join(' ', (await db.SortedSetRangeByRankWithScoresAsync(key)).Select(e => $"{e.Element}={e.Score.ToString("R", CultureInfo.InvariantCulture)}").Order(StringComparer.Ordinal)),
                RedisType.List => string.Join(' ', (await db.ListRangeAsync(key)).Select(v => (string)v!)),
                _ => "?",
            };
            lines.Add($"{key}\t{type}\t{content}");
        }

        lines.Sort(StringComparer.Ordinal);
        return Write(path, lines);
    }

    private static async Task<(int Lines, string Digest)> DumpRowsAsync(string directory, string path)
    {
        var lines = new List<string>();
        if (OfflineLayout.HasData(directory))
        {
            await using var connection = new DuckDBConnection("DataSource=:memory:");
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText =
                $"SELECT {OfflineLayout.EntityKind}, {OfflineLayout.EntityId}, {OfflineLayout.Feature}, {OfflineLayout.Value}, {OfflineLayout.Ids}, {OfflineLayout.EventTimeMs} " +
                $"FROM {OfflineLayout.ReadParquetSql(directory)}";
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                var value = reader.IsDBNull(3) ? "null" : reader.GetDouble(3).ToString("R", CultureInfo.InvariantCulture);
                lines.Add($"{reader.GetString(0)}\t{reader.GetString(1)}\t{reader.GetString(2)}\t{value}\t{(reader.IsDBNull(4) ? "" : reader.GetString(4))}\t{reader.GetInt64(5)}");
            }
        }

        lines.Sort(StringComparer.Ordinal);
        return Write(path, lines);
    }

    private static (int Lines, string Digest) Write(string path, List<string> lines)
    {
        var text = string.Join('\n', lines) + "\n";
        File.WriteAllText(path, text);
        return (lines.Count, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16]);
    }

    private static async Task<ConnectionMultiplexer> ConnectAsync(string endpoint)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions
                {
                    EndPoints = { endpoint },
                    AllowAdmin = true,
                    AbortOnConnectFail = true,
                    SyncTimeout = 30_000,
                    AsyncTimeout = 30_000,
                });
            }
            catch (RedisConnectionException) when (clock.Elapsed < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(250);
            }
        }
    }

    private static async Task WaitHttpAsync(HttpClient http, string path)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var response = await http.GetAsync(path);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException) when (clock.Elapsed < TimeSpan.FromSeconds(90))
            {
            }

            if (clock.Elapsed > TimeSpan.FromSeconds(90))
            {
                throw new TimeoutException($"{path} did not answer.");
            }

            await Task.Delay(250);
        }
    }

    private static Child Start(string name, string dll, int httpPort, Dictionary<string, string> environment, IEnumerable<KeyValuePair<string, string>> extra)
    {
        foreach (var (key, value) in extra)
        {
            environment[key] = value;
        }

        var info = new ProcessStartInfo("dotnet", [Path.GetFullPath(dll), "--urls", $"http://127.0.0.1:{httpPort}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(Path.GetFullPath(dll))!,
        };
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {dll}.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                Console.Error.WriteLine($"[{name}] {line}");
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        Console.WriteLine($"{name}: pid {process.Id}");
        return new Child(process);
    }

    /// <summary>A child process: its CPU time from /proc, stopped with SIGTERM (a graceful stop flushes the offline sink).</summary>
    private sealed class Child(Process process) : IDisposable
    {
        public double CpuMs()
        {
            // Fields 14 and 15 of /proc/pid/stat (after the command in parentheses): user and system time in clock ticks.
            var stat = File.ReadAllText($"/proc/{process.Id}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) * 1_000.0 / 100;
        }

        public void Stop()
        {
            if (process.HasExited)
            {
                return;
            }

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]))
            {
                kill.WaitForExit();
            }

            if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
            {
                process.Kill(entireProcessTree: true);
            }
        }

        public void Dispose()
        {
            Stop();
            process.Dispose();
        }
    }

    /// <summary>Reproducible requests: lists of distinct items for random users, a click now and then, a list resent now and then.</summary>
    private sealed class Requests(Options o)
    {
        private readonly Random _random = new(o.Seed);
        private List<EventDto?> _previousList = [];
        private int _next;

        public List<EventDto?> Next()
        {
            var r = _next++;
            var batch = new List<EventDto?>(o.Lists * (o.Items + 1));
            for (var l = 0; l < o.Lists; l++)
            {
                var request = $"q{r}-{l}";
                var user = $"u{_random.Next(o.Users)}";
                var time = T0.AddMilliseconds((r * 1_000L) + l);
                var list = new List<EventDto?>();
                var chosen = new HashSet<int>();
                while (chosen.Count < o.Items)
                {
                    chosen.Add(_random.Next(o.Catalog));
                }

                var j = 0;
                foreach (var item in chosen)
                {
                    list.Add(new EventDto($"{request}:{j++}", user, $"i{item}", null, "impression", null, time) { RequestId = request, ModelVersion = "m1" });
                }

                if (_random.NextDouble() < o.ClickShare)
                {
                    list.Add(new EventDto($"{request}:c", user, list[_random.Next(o.Items)]!.ItemId, null, "click", null, time.AddMilliseconds(500)) { RequestId = request });
                }

                if (l == 0 && o.ResendEvery > 0 && r % o.ResendEvery == o.ResendEvery - 1)
                {
                    batch.AddRange(_previousList);
                }

                batch.AddRange(list);
                if (l == 0)
                {
                    _previousList = list;
                }
            }

            return batch;
        }
    }

    private sealed record Options(
        string Server, string Store, string Out, int StorePort, int StoreHttpPort, int HttpPort, int Warmup, int Requests, int Lists, int Items,
        int Users, int Catalog, double ClickShare, int ResendEvery, int Seed)
    {
        private string[] Arguments { get; init; } = [];

        /// <summary>The NAME=VALUE pairs given after each <paramref name="option"/> (e.g. --store-env DOTNET_TieredPGO=0).</summary>
        public IEnumerable<KeyValuePair<string, string>> Environment(string option)
        {
            for (var i = 0; i + 1 < Arguments.Length; i++)
            {
                if (Arguments[i] == option && Arguments[i + 1].IndexOf('=', StringComparison.Ordinal) is var at and > 0)
                {
                    yield return new(Arguments[i + 1][..at], Arguments[i + 1][(at + 1)..]);
                }
            }
        }

        public static Options Parse(string[] args)
        {
            string Get(string name, string fallback)
            {
                var i = Array.IndexOf(args, name);
                return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
            }

            int Int(string name, int fallback) => int.Parse(Get(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
            return new Options(
                Get("--server", "src/RecSys.FeatureServer/bin/Release/net10.0/RecSys.FeatureServer.dll"),
                Get("--store", "src/RecSys.OnlineStore/bin/Release/net10.0/RecSys.OnlineStore.dll"),
                Get("--out", "/tmp/impression-cost"),
                Int("--store-port", 6461),
                Int("--store-http-port", 7461),
                Int("--http-port", 7462),
                Int("--warmup", 60),
                Int("--requests", 120),
                Int("--lists", 25),
                Int("--items", 20),
                Int("--users", 1_000),
                Int("--catalog", 5_000),
                double.Parse(Get("--click-share", "0.05"), CultureInfo.InvariantCulture),
                Int("--resend-every", 10),
                Int("--seed", 1))
            {
                Arguments = args,
            };
        }
    }
}
