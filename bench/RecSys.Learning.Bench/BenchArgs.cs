using System.Globalization;

namespace RecSys.Learning.Bench;

internal sealed record BenchArgs(int Users, int Items, long Nnz, int Dim, int Epochs, int CgSteps, int Threads, bool RunAls, string? MovieLens, string? JsonPath, int MlDim, float MlAlpha, float MlLambda, int MlEpochs, bool MlAlsOnly)
{
    public static BenchArgs Parse(string[] args)
    {
        int users = 10_000, items = 100_000, dim = 64, epochs = 3, cg = 3, threads = -1;
        long nnz = 1_000_000;
        var runAls = true;
        string? movieLens = "/work/shared/data/ml-latest-small/ratings.csv";
        string? json = null;
        int mlDim = 64, mlEpochs = 15;
        float mlAlpha = 1f, mlLambda = 30f;
        var mlAlsOnly = false;
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            int NextInt() => int.TryParse(Next(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : throw new ArgumentException($"{args[i - 1]} needs an integer.");
            switch (args[i])
            {
                case "--scale":
                    (users, items, nnz) = Next() switch
                    {
                        "small" => (10_000, 100_000, 1_000_000L),
                        "medium" => (50_000, 500_000, 5_000_000L),
                        "full" => (100_000, 1_000_000, 20_000_000L),
                        var s => throw new ArgumentException($"Unknown scale '{s}' (small, medium, full)."),
                    };
                    break;
                case "--users": users = NextInt(); break;
                case "--items": items = NextInt(); break;
                case "--nnz": nnz = long.TryParse(Next(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : throw new ArgumentException("--nnz needs an integer."); break;
                case "--dim": dim = NextInt(); break;
                case "--epochs": epochs = NextInt(); break;
                case "--cg": cg = NextInt(); break;
                case "--threads": threads = NextInt(); break;
                case "--movielens": movieLens = Next(); break;
                case "--no-movielens": movieLens = null; break;
                case "--no-als": runAls = false; break;
                case "--json": json = Next(); break;
                case "--ml-dim": mlDim = NextInt(); break;
                case "--ml-epochs": mlEpochs = NextInt(); break;
                case "--ml-alpha": mlAlpha = float.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--ml-lambda": mlLambda = float.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--ml-als-only": mlAlsOnly = true; break;
                default: throw new ArgumentException($"Unknown option '{args[i]}'.");
            }
        }

        if (users < 1 || items < 1 || nnz < 1 || nnz > int.MaxValue / 2 || dim < 1 || epochs < 1 || cg < 1 || threads is 0 or < -1)
        {
            throw new ArgumentException("Sizes, dimension, epochs and CG steps must be positive (nnz below 1e9); threads -1 or >= 1.");
        }

        return new BenchArgs(users, items, nnz, dim, epochs, cg, threads, runAls, movieLens, json, mlDim, mlAlpha, mlLambda, mlEpochs, mlAlsOnly);
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
