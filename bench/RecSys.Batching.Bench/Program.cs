using BenchmarkDotNet.Running;
using RecSys.Bench.Common;
using RecSys.Batching.Bench;

// Usage: dotnet run -c Release --project bench/RecSys.Batching.Bench -- load [--clients 1,8,32,128] [--rows 4] [--seconds 3] [--rounds 3]
//          [--onnx <release>/main-ranker] [--intra-op-threads 1] [--target-p99-ms 30]
//        dotnet run -c Release --project bench/RecSys.Batching.Bench -- bdn [BenchmarkDotNet arguments]
if (args.Length > 0 && args[0] == "bdn")
{
    // BenchmarkDotNet parses its own arguments (--filter, --job, ...).
    BenchmarkSwitcher.FromAssembly(typeof(SubmitBenchmarks).Assembly).Run(args[1..]);
    return 0;
}

var commandLine = new BenchCommandLine("dotnet run -c Release --project bench/RecSys.Batching.Bench -- [load|bdn] [options]")
    .Positionals(1, "load (default): closed-loop clients against the batcher; bdn [BenchmarkDotNet arguments]: the micro-benchmarks")
    .Option("--clients", "LIST", "concurrent clients per step, comma-separated (default 1,8,32,128)")
    .Option("--rows", "N", "rows per request (default 4)")
    .Option("--seconds", "S", "duration of each step (default 3)")
    .Option("--rounds", "N", "rounds over the client steps (default 3)")
    .Option("--onnx", "DIR", "a trained model folder (manifest.json + model.onnx, e.g. <release>/main-ranker) scored in ONNX Runtime instead of the emulated model")
    .Option("--intra-op-threads", "N", "ONNX Runtime threads per session call with --onnx (default 1, as Ranking)")
    .Option("--target-p99-ms", "MS", "the batcher's adaptation target (default 30)");
return await commandLine.RunAsync(args, async options =>
{
    var mode = options.Positional(0, "load");
    ParsedArguments.Require(mode == "load", $"Unknown mode '{mode}': use 'load' or 'bdn'.");
    var clients = options.GetIntList("--clients", [1, 8, 32, 128]);
    var rows = options.GetInt("--rows", 4);
    var seconds = options.GetDouble("--seconds", 3);
    var rounds = options.GetInt("--rounds", 3);
    var onnx = options.GetStringOrNull("--onnx");
    var intraOp = options.GetInt("--intra-op-threads", 1);
    var target = options.GetDouble("--target-p99-ms", 30);
    ParsedArguments.Require(clients.Length > 0 && clients.All(c => c >= 1) && rows >= 1 && seconds > 0 && rounds >= 1 && intraOp >= 1 && target > 0,
        "--clients, --rows, --seconds, --rounds, --intra-op-threads and --target-p99-ms must be positive.");
    ParsedArguments.Require(onnx is null || Directory.Exists(onnx), $"--onnx: folder '{onnx}' does not exist.");
    using var onnxModel = onnx is null ? null : OnnxBenchModel.Open(onnx, 10_000, intraOp);
    BenchModel model = onnxModel is not null ? onnxModel : new EmulatedModel(10_000, 32, TimeSpan.FromMicroseconds(20), TimeSpan.FromMicroseconds(0.5));
    await LoadRun.RunAsync(Console.Out, model, clients, rows, TimeSpan.FromSeconds(seconds), rounds, TimeSpan.FromMilliseconds(target));
    return 0;
});
