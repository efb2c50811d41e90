using BenchmarkDotNet.Attributes;
using RecSys.Candidates;
using RecSys.Core.Domain;

namespace RecSys.Benchmarks;

/// <summary>
/// <see cref="BudgetPlanner.Plan"/> with the default <see cref="RetrievalOptions"/> and the five default sources registered,
/// for the default request (500) and the target (5,000). Baseline: the arithmetic alone (scale and fallback reserve per
/// source into a reused array), the floor under the plan's records, lookups and sort.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ShortRunConfig))]
public class BudgetPlanningBenchmarks
{
    private readonly RetrievalOptions _options = new();
    private readonly string[] _registered = [.. SourceNames.All];
    private (int Budget, double Multiplier)[] _arithmetic = [];
    private int[] _budgets = [];

    [Params(500, 5_000)]
    public int Count { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _arithmetic = [.. _registered.Select(name => (_options.Sources[name].Budget, _options.Fallback.Boost.Contains(name) ? _options.Fallback.BudgetMultiplier : 1.0))];
        _budgets = new int[_registered.Length];
    }

    [Benchmark(Baseline = true)]
    public int ArithmeticOnly()
    {
        var total = 0;
        for (var i = 0; i < _arithmetic.Length; i++)
        {
            var scaled = BudgetPlanner.Scale(_arithmetic[i].Budget, Count, _options.TargetCount, _options.MinSourceBudget);
            _budgets[i] = BudgetPlanner.Multiply(scaled, _arithmetic[i].Multiplier);
            total += _budgets[i];
        }

        return total;
    }

    [Benchmark]
    public int Plan() => BudgetPlanner.Plan(_options, _registered, Count).Sources.Count;
}
