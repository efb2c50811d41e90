using RecSys.Bench.Common;
using RecSys.FeatureStore.Bench;

// Commands: each benchmark of the feature store is one command with its own options.
var commands = new Dictionary<string, (string Summary, BenchCommandLine Options, Func<ParsedArguments, Task<int>> Run)>(StringComparer.Ordinal)
{
    ["pit"] = ("point-in-time join: our training-set builder next to a raw DuckDB ASOF LEFT JOIN on the same files", PitBenchmark.BenchCommandLine, PitBenchmark.RunAsync),
};

if (args.Length == 0 || !commands.TryGetValue(args[0], out var command))
{
    Console.Error.WriteLine("usage: RecSys.FeatureStore.Bench <command> [options]   (<command> --help lists its options)");
    foreach (var (name, (summary, _, _)) in commands)
    {
        Console.Error.WriteLine($"  {name,-6} {summary}");
    }

    return args.Length > 0 && args[0] is "--help" or "-h" ? 0 : BenchCommandLine.UsageExitCode;
}

return await command.Options.RunAsync(args[1..], command.Run);
