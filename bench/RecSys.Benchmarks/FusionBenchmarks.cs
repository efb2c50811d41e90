using BenchmarkDotNet.Attributes;
using RecSys.Candidates;
using RecSys.Core.Domain;

namespace RecSys.Benchmarks;

/// <summary>
/// <see cref="CandidateFusion.Merge"/> of the five default sources, budgets in the default proportions summing to
/// <see cref="TotalBudget"/>. Sources draw from a shared catalog with a popularity skew, so about a fifth of the items are
/// proposed by two or more sources, as on the serving path. Baseline: the same formula written naively with LINQ
/// (group by item, sum, sort); its output is checked to be identical in <see cref="Setup"/>.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ShortRunConfig))]
public class FusionBenchmarks
{
    private SourceResult[] _results = [];

    [Params(500, 5_000)]
    public int TotalBudget { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var defaults = RetrievalOptions.DefaultSources();
        var target = defaults.Values.Sum(s => s.Budget);
        var random = new Random(11);
        var catalog = Math.Max(1_000, TotalBudget * 2);
        var ids = Enumerable.Range(0, catalog).Select(i => "item-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        _results = [.. SourceNames.All.Select(name =>
        {
            var options = defaults[name];
            var budget = (int)Math.Round((double)options.Budget * TotalBudget / target);
            var chosen = new HashSet<int>();
            while (chosen.Count < budget)
            {
                // Squaring a uniform draw skews toward popular (low) indices, which is where sources overlap.
                var u = random.NextDouble();
                chosen.Add((int)(u * u * catalog));
            }

            var items = chosen.Select(index => new ScoredItem(ids[index], random.NextDouble()))
                .OrderByDescending(item => item.Score)
                .ToList();
            return new SourceResult(name, options.Weight, items);
        })];

        var fused = CandidateFusion.Merge(_results);
        var naive = NaiveMerge(_results);
        if (!fused.Select(c => (c.ItemId, c.Score)).SequenceEqual(naive))
        {
            throw new InvalidOperationException("The naive fusion and CandidateFusion.Merge disagree; the baseline would not be comparable.");
        }

        var proposals = _results.Sum(r => r.Items.Count);
        Console.WriteLine($"// fusion input: {proposals} proposals, {fused.Count} distinct items, {fused.Count(c => c.Sources.Count > 1)} proposed by 2+ sources");
    }

    [Benchmark(Baseline = true)]
    public int NaiveLinqFusion() => NaiveMerge(_results).Count;

    [Benchmark]
    public int CandidateFusionMerge() => CandidateFusion.Merge(_results).Count;

    private static List<(string ItemId, double Score)> NaiveMerge(IReadOnlyList<SourceResult> results) =>
        [.. results
            .SelectMany(result => result.Items
                .Select((item, index) => (item.ItemId, result.Source, Contribution: ((item.Score * CandidateFusion.ScoreShare) + (1.0 / (CandidateFusion.RrfK + index + 1) * CandidateFusion.RankShare)) * result.Weight))
                .DistinctBy(entry => entry.ItemId))
            .GroupBy(entry => entry.ItemId, StringComparer.Ordinal)
            .Select(group =>
            {
                var sum = 0.0;
                foreach (var entry in group)
                {
                    sum += entry.Contribution;
                }

                var sources = group.Count();
                return (group.Key, Score: sources > 1 ? sum * (1 + (CandidateFusion.MultiSourceBonus * sources)) : sum);
            })
            .OrderByDescending(entry => entry.Score)
            .ThenBy(entry => entry.Key, StringComparer.Ordinal)];
}
