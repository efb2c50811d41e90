using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Garnet;
using StackExchange.Redis;

namespace RecSys.Bench.Common;

/// <summary>The server could not be started or did not answer PING in time (missing binary, port taken, crash).</summary>
public sealed class RespServerStartException(string message, Exception? innerException = null) : Exception(message, innerException);

/// <summary>Which server speaks the Redis protocol for a bench.</summary>
public enum RespServerKind
{
    /// <summary>A <c>redis-server</c> child process without persistence.</summary>
    RedisServer,

    /// <summary>The <c>garnet-server</c> dotnet tool as a child process.</summary>
    GarnetTool,

    /// <summary>Garnet hosted in this process (Microsoft.Garnet), with Lua on.</summary>
    GarnetInProcess,
}

/// <summary>
/// A Redis-protocol server on a free loopback port for one bench run: started, then waited for until it answers PING,
/// and stopped (child process killed, or the in-process Garnet disposed) on dispose.
/// </summary>
public sealed class RespServer : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);

    private readonly Process? _process;
    private readonly GarnetServer? _garnet;
    private bool _disposed;

    private RespServer(RespServerKind kind, int port, Process? process, GarnetServer? garnet)
    {
        Kind = kind;
        Port = port;
        _process = process;
        _garnet = garnet;
    }

    public RespServerKind Kind { get; }

    public int Port { get; }

    /// <summary><c>127.0.0.1:port</c>, a StackExchange.Redis configuration string.</summary>
    public string Endpoint => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{Port}");

    /// <summary>
    /// Starts a server of <paramref name="kind"/>. <paramref name="binary"/> is the executable of the child-process kinds
    /// (default <c>redis-server</c> or <c>garnet-server</c> on PATH); <paramref name="extraArguments"/> are appended to the
    /// server's own arguments (for Garnet e.g. <c>--memory 8g</c>). Throws <see cref="RespServerStartException"/> when the
    /// server does not come up.
    /// </summary>
    public static RespServer Start(RespServerKind kind, string? binary = null, IReadOnlyList<string>? extraArguments = null)
    {
        var port = FreeTcpPort();
        var portText = port.ToString(CultureInfo.InvariantCulture);
        extraArguments ??= [];
        RespServer server;
        switch (kind)
        {
            case RespServerKind.RedisServer:
                server = new RespServer(kind, port, StartProcess(binary ?? "redis-server", ["--port", portText, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", .. extraArguments]), null);
                break;
            case RespServerKind.GarnetTool:
                server = new RespServer(kind, port, StartProcess(binary ?? "garnet-server", ["--bind", "127.0.0.1", "--port", portText, "--lua", "true", .. extraArguments]), null);
                break;
            case RespServerKind.GarnetInProcess:
                var garnet = new GarnetServer(["--bind", "127.0.0.1", "--port", portText, "--lua", "true", .. extraArguments]);
                server = new RespServer(kind, port, null, garnet);
                garnet.Start();
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown server kind.");
        }

        try
        {
            server.WaitForPing();
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    /// <summary>A connection to this server; <paramref name="allowAdmin"/> for FLUSHALL, INFO and the like.</summary>
    public Task<ConnectionMultiplexer> ConnectAsync(bool allowAdmin = false) =>
        ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions
        {
            EndPoints = { { IPAddress.Loopback, Port } },
            AllowAdmin = allowAdmin,
            ConnectTimeout = 5000,
            SyncTimeout = 10000,
            AsyncTimeout = 10000,
        });

    /// <summary>A loopback TCP port nobody listens on at the time of the call.</summary>
    public static int FreeTcpPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_process is not null)
        {
            ChildProcess.Stop(_process, TimeSpan.FromSeconds(5));
        }

        _garnet?.Dispose();
    }

    private static Process StartProcess(string binary, IReadOnlyList<string> arguments)
    {
        var info = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(info) ?? throw new RespServerStartException($"Could not start {binary}.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new RespServerStartException($"Could not start {binary}: {e.Message}. Install it or pass its path.", e);
        }

        // Drained so that a chatty server never blocks on a full pipe.
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private void WaitForPing()
    {
        var ping = "*1\r\n$4\r\nPING\r\n"u8.ToArray();
        var reply = new byte[16];
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < StartTimeout)
        {
            if (_process is { HasExited: true })
            {
                throw new RespServerStartException($"The {Kind} server exited with code {_process.ExitCode} before answering PING on port {Port}.");
            }

            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, Port);
                client.ReceiveTimeout = 1000;
                var stream = client.GetStream();
                stream.Write(ping);
                var read = stream.Read(reply);
                if (Encoding.ASCII.GetString(reply, 0, read).StartsWith("+PONG", StringComparison.Ordinal))
                {
                    return;
                }
            }
            catch (Exception e) when (e is SocketException or IOException)
            {
                // Not listening (or still loading) yet.
            }

            Thread.Sleep(20);
        }

        throw new RespServerStartException($"The {Kind} server did not answer PING on port {Port} within {StartTimeout.TotalSeconds:F0} s.");
    }
}
