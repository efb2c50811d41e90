using BenchmarkDotNet.Attributes;
using RecSys.VectorSearch;

namespace RecSys.Benchmarks;

/// <summary>
/// One top-k query on an HNSW index (M=16, efConstruction=200, inner product) of 20,000 clustered unit vectors of 128
/// dimensions, built once in <see cref="Setup"/> (and shared by the cases through a snapshot); queries rotate over 256
/// held-out vectors. Baseline: the exact
/// scan (inner product with every vector via <see cref="VectorKernels.Dot(ReadOnlySpan{float}, ReadOnlySpan{float})"/>,
/// top k by a bounded heap). The index is searched with ef = max(k, 100) through both overloads: the one that returns a
/// new array and the one that fills the caller's span.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ShortRunConfig))]
public class HnswSearchBenchmarks
{
    private const int Vectors = 20_000;
    private const int Dimension = 128;
    private const int QueryCount = 256;

    private HnswIndex _index = null!;
    private float[] _data = [];
    private float[] _queries = [];
    private SearchHit[] _destination = [];
    private PriorityQueue<long, float> _heap = new();
    private int _next;

    [Params(10, 100)]
    public int K { get; set; }

    private int Ef => Math.Max(K, 100);

    [GlobalSetup]
    public void Setup()
    {
        var all = ClusteredUnitVectors(Vectors + QueryCount, Dimension, clusters: 64, seed: 3);
        _data = all[..(Vectors * Dimension)];
        _queries = all[(Vectors * Dimension)..];
        _index = BuildOrLoad(_data);
        _destination = new SearchHit[K];
        _heap = new PriorityQueue<long, float>(K + 1);

        // Recall against the exact scan, so that the speed-up is read next to what it costs.
        var found = 0;
        for (var q = 0; q < QueryCount; q++)
        {
            var exact = ExactTopK(q).ToHashSet();
            found += _index.Search(Query(q), K, Ef).Count(hit => exact.Contains(hit.Id));
        }

        Console.WriteLine($"// HNSW {Vectors} x {Dimension}, k={K}, ef={Ef}: recall@{K} = {found / (double)(QueryCount * K):F4}");
    }

    /// <summary>
    /// Each case runs in its own process and a parallel build is not deterministic, so the first case builds the index and
    /// saves a snapshot that the other cases load: every case searches the same graph. The snapshot's name carries the
    /// module versions of the engine and of this assembly (the data generator), so a change to either is built afresh.
    /// </summary>
    private static HnswIndex BuildOrLoad(float[] data)
    {
        var engine = typeof(HnswIndex).Assembly.ManifestModule.ModuleVersionId.ToString("N")[..12];
        var generator = typeof(HnswSearchBenchmarks).Assembly.ManifestModule.ModuleVersionId.ToString("N")[..12];
        var path = Path.Combine(Path.GetTempPath(), $"recsys-benchmarks-hnsw-{Vectors}x{Dimension}-{engine}-{generator}.snapshot");
        if (File.Exists(path))
        {
            return HnswSnapshot.Load(path);
        }

        var index = new HnswIndex(new HnswOptions { Dimension = Dimension, Metric = Metric.InnerProduct, M = 16, EfConstruction = 200, InitialCapacity = Vectors });
        index.AddBatch(Enumerable.Range(0, Vectors).Select(i => (long)i).ToArray(), data);
        var temporary = path + "." + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        HnswSnapshot.Save(index, temporary);
        File.Move(temporary, path, overwrite: true);
        return index;
    }

    [Benchmark(Baseline = true)]
    public int ExactScan() => ExactTopK(NextQuery()).Length;

    [Benchmark]
    public int HnswSearch_NewArray() => _index.Search(Query(NextQuery()), K, Ef).Length;

    [Benchmark]
    public int HnswSearch_IntoSpan() => _index.Search(Query(NextQuery()), _destination, Ef);

    private int NextQuery() => _next = (_next + 1) % QueryCount;

    private ReadOnlySpan<float> Query(int q) => _queries.AsSpan(q * Dimension, Dimension);

    private long[] ExactTopK(int q)
    {
        var query = Query(q);
        _heap.Clear();
        for (var i = 0; i < Vectors; i++)
        {
            var score = VectorKernels.Dot(query, _data.AsSpan(i * Dimension, Dimension));
            if (_heap.Count < K)
            {
                _heap.Enqueue(i, score);
            }
            else if (_heap.TryPeek(out _, out var worst) && score > worst)
            {
                _heap.DequeueEnqueue(i, score);
            }
        }

        var ids = new long[_heap.Count];
        for (var i = ids.Length - 1; i >= 0; i--)
        {
            ids[i] = _heap.Dequeue();
        }

        return ids;
    }

    /// <summary>Gaussian clusters around random centres, normalized: closer to real embeddings than uniform noise.</summary>
    private static float[] ClusteredUnitVectors(int count, int dimension, int clusters, int seed)
    {
        var random = new Random(seed);
        var centres = new float[clusters * dimension];
        for (var i = 0; i < centres.Length; i++)
        {
            centres[i] = Gaussian(random);
        }

        var vectors = new float[count * dimension];
        for (var v = 0; v < count; v++)
        {
            var centre = random.Next(clusters);
            var row = vectors.AsSpan(v * dimension, dimension);
            for (var d = 0; d < dimension; d++)
            {
                row[d] = centres[(centre * dimension) + d] + (0.6f * Gaussian(random));
            }

            VectorKernels.Normalize(row);
        }

        return vectors;
    }

    private static float Gaussian(Random random) =>
        (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
}
