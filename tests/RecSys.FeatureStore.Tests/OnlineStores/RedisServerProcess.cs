using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using RecSys.TestSupport;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Tests.OnlineStores;

/// <summary>
/// A redis-server child process (Debian's redis-server, <c>apt-get install -y redis-server</c>) on a free loopback port
/// without persistence. <see cref="Binary"/> is null when no redis-server is on the PATH (or at <c>REDIS_SERVER</c>).
/// </summary>
public sealed class RedisServerProcess : IDisposable
{
    private readonly Process _process;

    public RedisServerProcess()
    {
        var binary = Binary ?? throw new InvalidOperationException(MissingReason);
        Port = EmbeddedGarnet.FreeTcpPort();
        var info = new ProcessStartInfo(binary) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "--port", Port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" })
        {
            info.ArgumentList.Add(arg);
        }

        _process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {binary}.");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var probe = new TcpClient();
                probe.Connect(IPAddress.Loopback, Port);
                break;
            }
            catch (SocketException) when (waited.Elapsed < TimeSpan.FromSeconds(10) && !_process.HasExited)
            {
                Thread.Sleep(20);
            }
        }

        Connection = ConnectionMultiplexer.Connect(new ConfigurationOptions
        {
            EndPoints = { { IPAddress.Loopback, Port } },
            AllowAdmin = true,
            ConnectTimeout = 5000,
            SyncTimeout = 10000,
            AsyncTimeout = 10000,
        });
    }

    /// <summary>The redis-server binary: <c>REDIS_SERVER</c> when set, else the first on the PATH; null when none.</summary>
    public static string? Binary { get; } = Find();

    public static string MissingReason =>
        "redis-server is not installed (apt-get install -y redis-server, or set REDIS_SERVER to its path): the Redis cases of the contract did not run.";

    public int Port { get; }

    public ConnectionMultiplexer Connection { get; }

    public void Flush() => Connection.GetServer(IPAddress.Loopback, Port).FlushAllDatabases();

    public void Dispose()
    {
        Connection.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit(5000);
        }

        _process.Dispose();
    }

    private static string? Find()
    {
        if (Environment.GetEnvironmentVariable("REDIS_SERVER") is { Length: > 0 } configured)
        {
            return File.Exists(configured) ? configured : null;
        }

        return (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "redis-server"))
            .FirstOrDefault(File.Exists);
    }
}
