using Garnet;
using Microsoft.Extensions.Options;

namespace RecSys.OnlineStore;

/// <summary>
/// Runs Garnet in-process as the embedded online store. With a data directory it keeps an append-only file and
/// recovers from it (and from checkpoints) at start, so the store survives a restart of the AppHost.
/// </summary>
internal sealed partial class GarnetHost(IOptions<OnlineStoreOptions> options, ILogger<GarnetHost> logger) : IHostedService, IDisposable
{
    private GarnetServer? _server;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        var args = new List<string>
        {
            "--bind", o.Bind,
            "--port", o.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--lua", "true",
            "--memory", o.MemorySize,
        };
        if (o.CommandStats)
        {
            args.AddRange(["--commandstats-monitor", "true"]);
        }

        if (!string.IsNullOrWhiteSpace(o.DataDirectory))
        {
            var dir = Path.GetFullPath(o.DataDirectory);
            Directory.CreateDirectory(dir);
            args.AddRange([
                // Tiered storage: the log spills to disk beyond --memory, and the append-only file lives next to it.
                "--storage-tier", "true",
                // The managed device: the native one needs libaio, which a plain Debian machine lacks.
                "--device-type", "RandomAccess",
                "--checkpointdir", Path.Combine(dir, "checkpoints"),
                "--logdir", Path.Combine(dir, "log"),
                "--aof", "--aof-commit-freq", "100",
                // Bounded: past the limit Garnet checkpoints and drops the segments the checkpoint covers.
                "--aof-size-limit", o.AofSizeLimit,
                "--aof-segment-size", o.AofSegmentSize,
                "--recover",
            ]);
        }

        args.AddRange(o.GarnetArguments);
        _server = new GarnetServer([.. args]);
        _server.Start();
        LogStarted(logger, o.Bind, o.Port, o.DataDirectory ?? "(memory only)");
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _server?.Dispose();
        _server = null;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Garnet online store listening on {Bind}:{Port}, data in {DataDirectory}")]
    private static partial void LogStarted(ILogger logger, string bind, int port, string dataDirectory);
}
