using RecSys.Bench.Common;
using System.Globalization;

namespace RecSys.VectorSearch.Bench;

/// <summary>
/// Where an exact scan of a shard costs less than the HNSW walk (<see cref="ExactScanOptions"/>'s defaults): one index per
/// size, single-threaded searches timed by the thread's CPU clock with an exclusion filter of 150 ids (as the collaborative source asks), the two plans
/// alternating query by query in the same process, for several k (ef = max(k, 100), as the serving path asks).
/// </summary>
internal static class PlanCrossover
{
    public static void Run(BenchOptions opt)
    {
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine($"plan crossover: d={opt.Dim}, kernel={VectorKernels.Active}, M={opt.M}, efC={opt.EfConstruction}, {opt.Queries} queries per cell");
        Console.WriteLine("nodes\tk\tef\tk/N\tgraph_us\tscan_us\tscan/graph\tgraph_recall");
        foreach (var n in opt.PlanNs)
        {
            var data = Datasets.LowRankPlusNoise(n, opt.Dim, opt.Rank, opt.Noise, opt.Seed);
            var queries = Datasets.LowRankPlusNoise(opt.Queries, opt.Dim, opt.Rank, opt.Noise, opt.Seed, rowOffset: n);
            var ids = new long[n];
            for (var i = 0; i < n; i++) ids[i] = i;
            var index = new HnswIndex(new HnswOptions { Dimension = opt.Dim, Metric = Metric.InnerProduct, M = opt.M, EfConstruction = opt.EfConstruction, InitialCapacity = n });
            index.AddBatch(ids, data, opt.Threads);
            var rng = new Random(opt.Seed);
            var excluded = new HashSet<long>();
            while (excluded.Count < Math.Min(150, n / 10)) excluded.Add(rng.Next(n));
            var filter = SearchFilter.Excluding(excluded);
            foreach (var k in opt.PlanKs.Where(k => k < n))
            {
                var ef = Math.Max(k, 100);
                var hits = new SearchHit[k];
                var exact = new SearchHit[k];
                var nodes = new int[k];
                double graphTicks = 0, scanTicks = 0;
                double recall = 0;
                for (var round = 0; round < 2; round++)
                {
                    graphTicks = scanTicks = 0;
                    recall = 0;
                    for (var q = 0; q < opt.Queries; q++)
                    {
                        var query = new ReadOnlyMemory<float>(queries, q * opt.Dim, opt.Dim);
                        // Alternate which plan goes first so that neither always meets a warm cache.
                        var scanFirst = (q & 1) == 1;
                        if (scanFirst) scanTicks += Time(() => index.Search(query.Span, exact, nodes, SearchPlan.ExactScan, ef, filter));
                        var t0 = CpuClocks.ThreadSeconds();
                        var got = index.Search(query.Span, hits, nodes, SearchPlan.Graph, ef, filter);
                        graphTicks += CpuClocks.ThreadSeconds() - t0;
                        if (!scanFirst) scanTicks += Time(() => index.Search(query.Span, exact, nodes, SearchPlan.ExactScan, ef, filter));
                        var truth = new HashSet<long>(exact.Select(h => h.Id));
                        recall += hits.Take(got).Count(h => truth.Contains(h.Id)) / (double)k;
                    }
                }

                var g = graphTicks * 1e6 / opt.Queries;
                var s = scanTicks * 1e6 / opt.Queries;
                Console.WriteLine(string.Join('\t', n, k, ef, ((double)Math.Max(k, ef) / n).ToString("F4", inv), g.ToString("F1", inv), s.ToString("F1", inv),
                    (s / g).ToString("F2", inv), (recall / opt.Queries).ToString("F4", inv)));
            }
        }
    }

    private static double Time(Func<int> search)
    {
        var t0 = CpuClocks.ThreadSeconds();
        search();
        return CpuClocks.ThreadSeconds() - t0;
    }
}
