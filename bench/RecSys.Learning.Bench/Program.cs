using System.Diagnostics;
using System.Globalization;
using System.Runtime.Intrinsics;
using RecSys.Core.Domain;
using RecSys.Learning.Als;
using RecSys.Learning.Bench;
using RecSys.Learning.Evaluation;
using RecSys.Learning.Interactions;

// Rankers (pre-ranker, teacher, student, calibration, ONNX parity and throughput): rankers [options], see RankerBench.cs.
if (args.Length > 0 && args[0] == "rankers")
{
    try
    {
        return RankerBench.Run(args[1..]);
    }
    catch (ArgumentException e)
    {
        Console.Error.WriteLine($"error: {e.Message}");
        return 2;
    }
}

// ALS cost and quality benchmark; --help lists the options (BenchArgs.BenchCommandLine).
return BenchArgs.BenchCommandLine.Run(args, options =>
{
    var parsed = BenchArgs.Parse(options);
    Console.WriteLine($"CPU: {BenchArgs.CpuModel()}; {Environment.ProcessorCount} logical cores; Vector512 {Vector512.IsHardwareAccelerated}, Vector256 {Vector256.IsHardwareAccelerated}");

    if (parsed.RunAls)
    {
        var peak = MeasureGemm(parsed.Threads);
        if (parsed.CompareKernels)
        {
            AlsTrainer.UseOnePassProjection = true;
            Console.WriteLine("sparse projection: one pass (dot, then axpy, per nonzero)");
            RunAls(parsed, peak);
            AlsTrainer.UseOnePassProjection = false;
            Console.WriteLine("sparse projection: two passes (all dots, then the axpys with acc in registers)");
        }

        RunAls(parsed, peak);
    }

    if (parsed.MovieLens is { } path)
    {
        if (!File.Exists(path))
        {
            Console.Error.WriteLine($"error: {path} not found (pass --no-movielens to skip)");
            return 2;
        }

        RunMovieLens(path, parsed);
    }

    return 0;
});

static double MeasureGemm(int threads)
{
    const int M = 1200, N = 1024, K = 1024;
    var rng = new Random(1);
    var a = Enumerable.Range(0, M * K).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
    var b = Enumerable.Range(0, K * N).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
    var c = new float[M * N];
    Sgemm.Multiply(a, b, c, M, N, K, threads); // warm-up, and the correctness sample below

    var maxError = 0.0;
    for (var probe = 0; probe < 64; probe++)
    {
        var i = rng.Next(M);
        var j = rng.Next(N);
        var s = 0.0;
        for (var k = 0; k < K; k++)
        {
            s += (double)a[(i * K) + k] * b[(k * N) + j];
        }

        maxError = Math.Max(maxError, Math.Abs(s - c[(i * N) + j]));
    }

    var best = double.MaxValue;
    for (var rep = 0; rep < 5; rep++)
    {
        Array.Clear(c);
        var sw = Stopwatch.StartNew();
        Sgemm.Multiply(a, b, c, M, N, K, threads);
        best = Math.Min(best, sw.Elapsed.TotalSeconds);
    }

    var gflops = 2.0 * M * N * K / best / 1e9;
    Console.WriteLine($"SGEMM {M}x{N}x{K} (own blocked kernel, vector width {Sgemm.Width}): {gflops:F1} GFLOP/s best of 5; max abs error vs double {maxError:E1}");
    return gflops;
}

static void RunAls(BenchArgs p, double gemmPeak)
{
    Console.WriteLine($"ALS problem: {p.Users:N0} users x {p.Items:N0} items x {p.Nnz:N0} triples, d={p.Dim}, CG steps {p.CgSteps}, {p.Epochs} epochs, threads {p.Threads}");
    var sw = Stopwatch.StartNew();
    var (users, items, strengths) = SyntheticProblem.Generate(p.Users, p.Items, p.Nnz, seed: 7);
    Console.WriteLine($"  generated in {sw.Elapsed.TotalSeconds:F1} s");
    sw.Restart();
    var matrix = InteractionMatrix.Build(p.Users, p.Items, users, items, strengths);
    Console.WriteLine($"  matrix (CSR + transpose) built in {sw.Elapsed.TotalSeconds:F2} s: {matrix.InteractionCount:N0} distinct pairs");
    users = null!;
    items = null!;
    strengths = null!;
    GC.Collect();

    var options = new AlsOptions { Dimension = p.Dim, Epochs = p.Epochs, ConjugateGradientSteps = p.CgSteps, MaxDegreeOfParallelism = p.Threads, Alpha = 10f, Regularization = 0.1f };
    var trainer = new AlsTrainer(options);
    var d = (double)p.Dim;
    var nnz = (double)matrix.InteractionCount;
    var rows = (double)matrix.UserCount + matrix.ItemCount;
    // Per half-epoch and CG pass (initial residual + steps): 2 d^2 per row (G v) and 4 d per nonzero (dot + axpy).
    var solveFlops = (p.CgSteps + 1) * ((2 * d * d * rows) + (4 * d * nnz * 2));
    var gramFlops = rows * d * (d + 1); // upper triangle, 2 flops per multiply-add
    var reports = new List<AlsEpochReport>();
    trainer.Train(matrix, r =>
    {
        reports.Add(r);
        var solve = (r.UserSolveTime + r.ItemSolveTime).TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  epoch {r.Epoch}/{r.TotalEpochs}: {r.Elapsed.TotalSeconds:F2} s (gram {r.GramTime.TotalSeconds:F2}, users {r.UserSolveTime.TotalSeconds:F2}, items {r.ItemSolveTime.TotalSeconds:F2}); "
            + $"solve {solveFlops / solve / 1e9:F1} GFLOP/s, gram {gramFlops / r.GramTime.TotalSeconds / 1e9:F1} GFLOP/s"));
    });

    var steady = reports.Count > 1 ? reports.Skip(1).ToList() : reports;
    var epochSeconds = steady.Average(r => r.Elapsed.TotalSeconds);
    var solveRate = solveFlops / steady.Average(r => (r.UserSolveTime + r.ItemSolveTime).TotalSeconds) / 1e9;
    var gramRate = gramFlops / steady.Average(r => r.GramTime.TotalSeconds) / 1e9;
    var overall = (solveFlops + gramFlops) / epochSeconds / 1e9;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"ALS summary: {epochSeconds:F2} s/epoch (mean of epochs 2..); CG solve {solveRate:F1} GFLOP/s = {solveRate / gemmPeak:F2}x SGEMM; "
        + $"Gram {gramRate:F1} GFLOP/s = {gramRate / gemmPeak:F2}x SGEMM; whole epoch {overall:F1} GFLOP/s = {overall / gemmPeak:F2}x SGEMM ({gemmPeak:F1} GFLOP/s)"));
}

static void RunMovieLens(string path, BenchArgs p)
{
    var userIds = new IdIndexMap<int>();
    var itemIds = new IdIndexMap<int>();
    var interactions = new List<Interaction>();
    var confidence = new ConfidenceFunction(new ConfidenceOptions { HalfLife = TimeSpan.Zero }, DateTimeOffset.UnixEpoch);
    foreach (var line in File.ReadLines(path).Skip(1))
    {
        var parts = line.Split(',');
        if (parts.Length < 4)
        {
            continue;
        }

        var rating = double.Parse(parts[2], CultureInfo.InvariantCulture);
        var time = long.Parse(parts[3], CultureInfo.InvariantCulture);
        // Every rating is a positive; how much the user liked it raises the confidence (1 + engagement weight).
        var strength = 1f + confidence.Strength(EventType.Rating, rating, DateTimeOffset.FromUnixTimeSeconds(time));
        interactions.Add(new Interaction(userIds.GetOrAdd(int.Parse(parts[0], CultureInfo.InvariantCulture)),
            itemIds.GetOrAdd(int.Parse(parts[1], CultureInfo.InvariantCulture)), strength, time));
    }

    foreach (var split in new[]
    {
        DataSplit.Temporal(interactions, userIds.Count, itemIds.Count),
        DataSplit.Random(interactions, userIds.Count, itemIds.Count, seed: 1),
    })
    {
        var als = new AlsOptions { Dimension = p.MlDim, Epochs = p.MlEpochs, Alpha = p.MlAlpha, Regularization = p.MlLambda, ConjugateGradientSteps = 3, Seed = 42, MaxDegreeOfParallelism = p.Threads };
        var baselines = p.MlAlsOnly ? [] : new Func<IRecommender>[]
        {
            () => new MostPopularRecommender(split.Train),
            () => new ItemKnnRecommender(split.Train, neighbours: 100),
            () => new EaseRecommender(split.Train, lambda: 500f, maxItems: 5000),
        };
        var report = Evaluator.Run("MovieLens ml-latest-small", split,
        [
            .. baselines,
            () => new FactorRecommender(new AlsTrainer(als).Train(split.Train), split.Train,
                $"als(d={als.Dimension}, alpha={als.Alpha}, lambda={als.Regularization}, {als.Epochs} epochs)"),
        ]);
        Console.WriteLine(report.ToMarkdown());
        if (p.JsonPath is { } json)
        {
            File.WriteAllText(split.Name.StartsWith("temporal", StringComparison.Ordinal) ? json : Path.ChangeExtension(json, ".random.json"), report.ToJson());
        }
    }
}
