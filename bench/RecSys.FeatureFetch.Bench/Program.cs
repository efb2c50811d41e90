using RecSys.Bench.Common;
using RecSys.FeatureFetch.Bench;
using StackExchange.Redis;

var commandLine = new BenchCommandLine("dotnet run -c Release --project bench/RecSys.FeatureFetch.Bench -- [fetch|apply] [options]")
    .Positionals(1, "fetch (default): one ranking request's 505 feature values; apply: events/s of the stream processor's Lua")
    .Option("--iterations", "N", "fetch iterations per row (default 5000)")
    .Option("--events", "N", "events applied (default 100000)")
    .Option("--store", "KIND", "server started on a free port: redis-server (default), garnet (in-process) or garnet-tool")
    .Option("--redis-server", "PATH", "binary of redis-server or garnet-tool (default: redis-server or garnet-server on PATH)")
    .Option("--redis", "HOST:PORT", "use this running store instead of starting one");
return await commandLine.RunAsync(args, async options =>
{
    var mode = options.Positional(0, "fetch");
    ParsedArguments.Require(mode is "fetch" or "apply", $"Unknown mode '{mode}': use 'fetch' or 'apply'.");
    var iterations = options.GetInt("--iterations", 5000);
    var events = options.GetInt("--events", 100_000);
    ParsedArguments.Require(iterations > 0 && events > 0, "--iterations and --events must be positive.");

    var external = options.GetStringOrNull("--redis");
    var kind = options.GetChoice("--store", "redis-server", "redis-server", "garnet", "garnet-tool") switch
    {
        "garnet" => RespServerKind.GarnetInProcess,
        "garnet-tool" => RespServerKind.GarnetTool,
        _ => RespServerKind.RedisServer,
    };
    ParsedArguments.Require(external is null || !options.Has("--store"), "--redis and --store exclude each other.");
    RespServer? server = null;
    try
    {
        server = external is null ? RespServer.Start(kind, options.GetStringOrNull("--redis-server")) : null;
    }
    catch (RespServerStartException e)
    {
        Console.Error.WriteLine($"error: {e.Message}");
        return 1;
    }

    using var stopServer = server;
    var connection = external ?? server!.Endpoint;
    using var redis = await ConnectionMultiplexer.ConnectAsync(connection + ",allowAdmin=true");
    Console.WriteLine($"store: {connection} ({redis.GetServers()[0].Version})");
    if (mode == "apply")
    {
        await ApplyBench.RunAsync(redis, events, Console.Out);
    }
    else
    {
        await FetchBench.RunAsync(redis, iterations, Console.Out);
    }

    return 0;
});
