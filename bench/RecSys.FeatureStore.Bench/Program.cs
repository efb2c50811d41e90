using RecSys.FeatureStore.Bench;

// Commands: each benchmark of the feature store is one command with its own options.
var commands = new Dictionary<string, (string Summary, Func<string[], Task<int>> Run)>(StringComparer.Ordinal)
{
    ["pit"] = ("point-in-time join: our training-set builder next to a raw DuckDB ASOF LEFT JOIN on the same files", PitBenchmark.RunAsync),
};

if (args.Length == 0 || !commands.TryGetValue(args[0], out var command))
{
    Console.Error.WriteLine("usage: RecSys.FeatureStore.Bench <command> [options]");
    foreach (var (name, (summary, _)) in commands)
    {
        Console.Error.WriteLine($"  {name,-6} {summary}");
    }

    return 2;
}

try
{
    return await command.Run(args[1..]);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
