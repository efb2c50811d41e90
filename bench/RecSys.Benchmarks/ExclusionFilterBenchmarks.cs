using BenchmarkDotNet.Attributes;
using RecSys.VectorSearch;

namespace RecSys.Benchmarks;

/// <summary>
/// One shard's share of the collaborative search: k = ef = 717 (the per-shard limit for a global top-2,500 over four shards)
/// on 25,000 unit vectors of 16 dimensions, skipping the user's ~150 seen items, through the exclusion set as a predicate
/// (what the searcher passed before) against <see cref="SearchFilter.Excluding"/> (its bit filter in front of the set). The
/// graph is built on one thread, so both cases search the same one; both must return the same hits (checked in <see cref="Setup"/>).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ShortRunConfig))]
public class ExclusionFilterBenchmarks
{
    private const int Vectors = 25_000;
    private const int Dimension = 16;
    private const int QueryCount = 64;
    private const int K = 717;

    private HnswIndex _index = null!;
    private float[] _queries = [];
    private SearchHit[] _destination = [];
    private SearchFilter _predicate = null!;
    private SearchFilter _excluding = null!;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(3);
        var all = new float[(Vectors + QueryCount) * Dimension];
        var centers = new float[32 * Dimension];
        for (var i = 0; i < centers.Length; i++) centers[i] = (float)((random.NextDouble() * 2) - 1);
        for (var v = 0; v < Vectors + QueryCount; v++)
        {
            var row = all.AsSpan(v * Dimension, Dimension);
            var center = random.Next(32);
            for (var d = 0; d < Dimension; d++) row[d] = centers[(center * Dimension) + d] + (float)((random.NextDouble() - 0.5) * 0.8);
            VectorKernels.Normalize(row);
        }

        _queries = all[(Vectors * Dimension)..];
        _index = new HnswIndex(new HnswOptions { Dimension = Dimension, Metric = Metric.InnerProduct, M = 16, EfConstruction = 200, InitialCapacity = Vectors });
        _index.AddBatch(Enumerable.Range(0, Vectors).Select(i => (long)i).ToArray(), all.AsMemory(0, Vectors * Dimension), maxDegreeOfParallelism: 1);
        var excluded = new HashSet<long>();
        while (excluded.Count < 150) excluded.Add(random.Next(Vectors));
        _predicate = SearchFilter.FromPredicate(id => !excluded.Contains(id));
        _excluding = SearchFilter.Excluding(excluded);
        _destination = new SearchHit[K];
        for (var q = 0; q < QueryCount; q++)
        {
            if (!_index.Search(Query(q), K, K, _predicate).SequenceEqual(_index.Search(Query(q), K, K, _excluding)))
            {
                throw new InvalidOperationException("The two filters gave different hits: the cases are not comparable.");
            }
        }
    }

    [Benchmark(Baseline = true)]
    public int Predicate() => _index.Search(Query(NextQuery()), _destination, K, _predicate);

    [Benchmark]
    public int Excluding() => _index.Search(Query(NextQuery()), _destination, K, _excluding);

    private int NextQuery() => _next = (_next + 1) % QueryCount;

    private ReadOnlySpan<float> Query(int q) => _queries.AsSpan(q * Dimension, Dimension);
}
