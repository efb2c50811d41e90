using System.Net;
using System.Net.Sockets;
using Garnet;
using StackExchange.Redis;

namespace RecSys.TestSupport;

/// <summary>
/// A real Garnet server on a free loopback port, in-process, for tests of code that speaks the Redis protocol.
/// Share one per test class (xunit <c>IClassFixture</c>) and give each test its own key prefix or database.
/// </summary>
public sealed class EmbeddedGarnet : IDisposable
{
    private readonly GarnetServer _server;

    /// <summary>A server with 256 MB (xunit fixtures need this single public constructor).</summary>
    public EmbeddedGarnet()
        : this("256m")
    {
    }

    private EmbeddedGarnet(string memory)
    {
        Port = FreeTcpPort();
        _server = new GarnetServer(["--bind", "127.0.0.1", "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--lua", "true", "--memory", memory]);
        _server.Start();
        Connection = ConnectionMultiplexer.Connect(new ConfigurationOptions
        {
            EndPoints = { { IPAddress.Loopback, Port } },
            AllowAdmin = true,
            ConnectTimeout = 5000,
            SyncTimeout = 10000,
            AsyncTimeout = 10000,
        });
    }

    /// <summary>
    /// A server with <paramref name="memory"/> as Garnet's <c>--memory</c> (log memory and the target of its object heap).
    /// Without a storage tier Garnet is a cache: past it, the oldest records are evicted, so a test that grows the store
    /// must give it room.
    /// </summary>
    public static EmbeddedGarnet WithMemory(string memory) => new(memory);

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    public ConnectionMultiplexer Connection { get; }

    /// <summary>Removes every key, so that a test starts from an empty store.</summary>
    public void Flush() => Connection.GetServer(IPAddress.Loopback, Port).FlushAllDatabases();

    public void Dispose()
    {
        Connection.Dispose();
        _server.Dispose();
    }

    public static int FreeTcpPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
