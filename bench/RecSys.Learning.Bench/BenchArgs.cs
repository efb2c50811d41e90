using RecSys.Bench.Common;

namespace RecSys.Learning.Bench;

internal sealed record BenchArgs(int Users, int Items, long Nnz, int Dim, int Epochs, int CgSteps, int Threads, bool RunAls, string? MovieLens, string? JsonPath, int MlDim, float MlAlpha, float MlLambda, int MlEpochs, bool MlAlsOnly, bool CompareKernels)
{
    public static BenchCommandLine BenchCommandLine { get; } = new BenchCommandLine("dotnet run -c Release --project bench/RecSys.Learning.Bench -- [options]")
        .Option("--scale", "SIZE", "small (default: 10k users x 100k items x 1M nnz), medium (50k x 500k x 5M) or full (100k x 1M x 20M)")
        .Option("--users", "N", "overrides the scale's users")
        .Option("--items", "N", "overrides the scale's items")
        .Option("--nnz", "N", "overrides the scale's interactions")
        .Option("--dim", "N", "factors (default 64)")
        .Option("--epochs", "N", "ALS epochs (default 3)")
        .Option("--cg", "N", "conjugate-gradient steps (default 3)")
        .Option("--threads", "N", "-1 (default): all cores")
        .Option("--movielens", "PATH", "ratings.csv (default /work/shared/data/ml-latest-small/ratings.csv)")
        .Flag("--no-movielens", "skip the MovieLens evaluation")
        .Flag("--no-als", "skip the synthetic ALS cost run")
        .Option("--json", "PATH", "write the MovieLens evaluation report as JSON")
        .Option("--ml-dim", "N", "MovieLens ALS factors (default 64)")
        .Option("--ml-epochs", "N", "MovieLens ALS epochs (default 15)")
        .Option("--ml-alpha", "X", "MovieLens confidence alpha (default 1)")
        .Option("--ml-lambda", "X", "MovieLens regularization (default 30)")
        .Flag("--ml-als-only", "MovieLens: ALS without the baselines")
        .Flag("--compare-kernels", "run the ALS cost with the one-pass sparse projection, then the two-pass one (the default), side by side");

    public static BenchArgs Parse(ParsedArguments args)
    {
        var (users, items, nnz) = args.GetChoice("--scale", "small", "small", "medium", "full") switch
        {
            "medium" => (50_000, 500_000, 5_000_000L),
            "full" => (100_000, 1_000_000, 20_000_000L),
            _ => (10_000, 100_000, 1_000_000L),
        };
        users = args.GetInt("--users", users);
        items = args.GetInt("--items", items);
        nnz = args.GetLong("--nnz", nnz);
        var dim = args.GetInt("--dim", 64);
        var epochs = args.GetInt("--epochs", 3);
        var cg = args.GetInt("--cg", 3);
        var threads = args.GetInt("--threads", -1);
        ParsedArguments.Require(
            users >= 1 && items >= 1 && nnz >= 1 && nnz <= int.MaxValue / 2 && dim >= 1 && epochs >= 1 && cg >= 1 && threads is not (0 or < -1),
            "Sizes, dimension, epochs and CG steps must be positive (nnz below 1e9); threads -1 or >= 1.");
        var movieLens = args.Has("--no-movielens") ? null : args.GetString("--movielens", "/work/shared/data/ml-latest-small/ratings.csv");
        return new BenchArgs(
            users, items, nnz, dim, epochs, cg, threads, !args.Has("--no-als"), movieLens, args.GetStringOrNull("--json"),
            args.GetInt("--ml-dim", 64), args.GetFloat("--ml-alpha", 1f), args.GetFloat("--ml-lambda", 30f), args.GetInt("--ml-epochs", 15), args.Has("--ml-als-only"), args.Has("--compare-kernels"));
    }

    public static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line?.Split(':', 2)[1].Trim() ?? "unknown";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }
}
