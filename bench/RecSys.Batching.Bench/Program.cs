using System.Globalization;
using BenchmarkDotNet.Running;
using RecSys.Batching.Bench;

// Usage: dotnet run -c Release --project bench/RecSys.Batching.Bench -- load [--clients 1,8,32,128] [--rows 4] [--seconds 3] [--rounds 3]
//        dotnet run -c Release --project bench/RecSys.Batching.Bench -- bdn [BenchmarkDotNet arguments]
string? Option(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
var mode = args.Length > 0 ? args[0] : "load";
if (mode == "bdn")
{
    BenchmarkSwitcher.FromAssembly(typeof(SubmitBenchmarks).Assembly).Run(args[1..]);
    return 0;
}

if (mode != "load")
{
    Console.Error.WriteLine($"Unknown mode '{mode}': use 'load' or 'bdn'.");
    return 2;
}

try
{
    var clients = (Option("--clients") ?? "1,8,32,128").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
    var rows = int.Parse(Option("--rows") ?? "4", CultureInfo.InvariantCulture);
    var seconds = double.Parse(Option("--seconds") ?? "3", CultureInfo.InvariantCulture);
    var rounds = int.Parse(Option("--rounds") ?? "3", CultureInfo.InvariantCulture);
    if (clients.Any(c => c < 1) || rows < 1 || seconds <= 0 || rounds < 1)
    {
        Console.Error.WriteLine("--clients, --rows, --seconds and --rounds must be positive.");
        return 2;
    }

    await LoadRun.RunAsync(Console.Out, clients, rows, TimeSpan.FromSeconds(seconds), rounds);
    return 0;
}
catch (FormatException exception)
{
    Console.Error.WriteLine($"Bad number in the arguments: {exception.Message}");
    return 2;
}
