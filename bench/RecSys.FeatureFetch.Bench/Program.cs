using RecSys.FeatureFetch.Bench;
using StackExchange.Redis;

// Usage: dotnet run -c Release --project bench/RecSys.FeatureFetch.Bench -- [fetch|apply] [--iterations N] [--events N] [--redis-server PATH] [--redis HOST:PORT]
var mode = args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal) ? args[0] : "fetch";
string? Option(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
var iterations = int.Parse(Option("--iterations") ?? "5000", System.Globalization.CultureInfo.InvariantCulture);
var events = int.Parse(Option("--events") ?? "100000", System.Globalization.CultureInfo.InvariantCulture);

using var server = Option("--redis") is null ? RedisProcess.Start(Option("--redis-server") ?? "redis-server") : null;
var connection = Option("--redis") ?? server!.ConnectionString;
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
