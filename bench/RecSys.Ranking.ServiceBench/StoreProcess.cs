using System.Diagnostics;
using System.Globalization;
using System.Net;
using RecSys.Bench.Common;
using StackExchange.Redis;

namespace RecSys.Ranking.ServiceBench;

/// <summary>
/// The RecSys.OnlineStore host (Garnet with the deployment's persistence settings, recovering the seeded world) as a child
/// process: its CPU is the store's share of a request, read from <c>/proc/PID/stat</c>, and is not in this process's clock.
/// </summary>
internal sealed class StoreProcess : IDisposable
{
    private readonly Process _process;

    private StoreProcess(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public int Pid => _process.Id;

    public static StoreProcess Start(string storeDll, string dataDirectory)
    {
        var port = RespServer.FreeTcpPort();
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(storeDll);
        info.Environment["OnlineStore__Port"] = port.ToString(CultureInfo.InvariantCulture);
        info.Environment["OnlineStore__DataDirectory"] = dataDirectory;
        // Command counts per request (INFO commandstats), as bench/scripts/ranking-cost.sh runs the store.
        info.Environment["OnlineStore__CommandStats"] = "true";
        info.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{RespServer.FreeTcpPort()}";
        info.Environment["OTEL_SDK_DISABLED"] = "true";
        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start the store.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var store = new StoreProcess(process, port);
        try
        {
            store.WaitUntilServing();
            return store;
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    public Task<ConnectionMultiplexer> ConnectAsync() =>
        ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions
        {
            EndPoints = { { IPAddress.Loopback, Port } },
            AllowAdmin = true,
            ConnectTimeout = 5000,
            SyncTimeout = 30000,
            AsyncTimeout = 30000,
        });

    /// <summary>User plus system CPU time of the store process so far, in milliseconds (clock-tick resolution).</summary>
    public double CpuMilliseconds()
    {
        var stat = File.ReadAllText($"/proc/{_process.Id}/stat");
        // Fields after the command name (which may hold spaces): utime and stime are the 14th and 15th fields overall.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return ticks * 1000.0 / 100; // USER_HZ is 100 on Linux.
    }

    /// <summary>Commands the store has executed so far (INFO commandstats), 0 when it does not report them.</summary>
    public async Task<long> CommandCountAsync(IConnectionMultiplexer redis) => (await CommandCountsAsync(redis)).Values.Sum();

    /// <summary>Calls per command so far (INFO commandstats); empty when the store does not report them.</summary>
    public async Task<Dictionary<string, long>> CommandCountsAsync(IConnectionMultiplexer redis)
    {
        var server = redis.GetServer(IPAddress.Loopback, Port);
        var info = await server.InfoRawAsync("commandstats");
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in (info ?? "").Split('\n'))
        {
            var at = line.IndexOf("calls=", StringComparison.Ordinal);
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (line.StartsWith("cmdstat_", StringComparison.Ordinal) && at > 0 && colon > 8)
            {
                var end = line.IndexOf(',', at);
                counts[line[8..colon]] = long.Parse(line.AsSpan(at + 6, (end < 0 ? line.TrimEnd('\r').Length : end) - at - 6), CultureInfo.InvariantCulture);
            }
        }

        return counts;
    }

    public void Dispose() => ChildProcess.Stop(_process, TimeSpan.FromSeconds(10));

    private void WaitUntilServing()
    {
        // Recovering the seeded world's checkpoint and log takes a while.
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(3))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The store exited with code {_process.ExitCode}.");
            }

            try
            {
                using var redis = ConnectionMultiplexer.Connect(new ConfigurationOptions { EndPoints = { { IPAddress.Loopback, Port } }, ConnectTimeout = 1000, AbortOnConnectFail = true });
                if (redis.GetDatabase().Ping() > TimeSpan.Zero || redis.IsConnected)
                {
                    return;
                }
            }
            catch (RedisConnectionException)
            {
                Thread.Sleep(200);
            }
        }

        throw new InvalidOperationException($"The store did not answer on port {Port} within 3 minutes.");
    }
}
