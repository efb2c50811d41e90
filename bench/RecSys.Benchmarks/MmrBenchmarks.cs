using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Options;
using RecSys.FeatureStore.Serving;
using RecSys.Learning.Ranking;
using RecSys.Ranking.PostProcessing;

namespace RecSys.Benchmarks;

/// <summary>
/// Diversity re-ranking of 500 candidates with 64-dimensional embeddings (24 Gaussian clusters, so near-duplicates exist),
/// lambda 0.7, choosing <see cref="Count"/>. Baseline: textbook MMR that recomputes each remaining item's maximum cosine
/// against every chosen item each round, with scalar loops (O(k^2 n d)). <see cref="MaximalMarginalRelevance.Select"/>
/// normalizes once and updates the maxima with the latest choice only (O(k n d), TensorPrimitives dot products). The setup
/// checks that both choose the same items in the same order. <see cref="FullPipeline"/> is the whole post-processing of
/// the same candidates (calibration, rules, MMR, top N), for scale rather than as a like-for-like comparison.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ShortRunConfig))]
public class MmrBenchmarks
{
    private const int Candidates = 500;
    private const int Dimension = 64;
    private const double Lambda = 0.7;

    private double[] _relevance = [];
    private float[] _embeddings = [];
    private int[] _chosen = [];
    private PostProcessingPipeline _pipeline = null!;
    private PostProcessingRequest _request = null!;

    [Params(20, 100)]
    public int Count { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(17);
        var centers = new float[24 * Dimension];
        for (var j = 0; j < centers.Length; j++)
        {
            centers[j] = Gaussian(random);
        }

        _relevance = new double[Candidates];
        _embeddings = new float[Candidates * Dimension];
        for (var i = 0; i < Candidates; i++)
        {
            _relevance[i] = random.NextDouble();
            var center = random.Next(24);
            for (var j = 0; j < Dimension; j++)
            {
                _embeddings[(i * Dimension) + j] = centers[(center * Dimension) + j] + (0.3f * Gaussian(random));
            }
        }

        _chosen = new int[Count];
        var fast = _chosen[..MaximalMarginalRelevance.Select(_relevance, _embeddings, Dimension, Lambda, _chosen).Selected];
        var naive = NaiveMmr(_relevance, _embeddings, Dimension, Lambda, Count);
        if (!fast.SequenceEqual(naive))
        {
            throw new InvalidOperationException("The naive and incremental MMR chose differently; the baseline would not be comparable.");
        }

        _pipeline = new PostProcessingPipeline(Options.Create(new PostProcessingOptions
        {
            MaxItemsPerCreator = 5,
            Diversity = new DiversityOptions { Lambda = Lambda, MaxPerCategory = Count / 4 },
        }));
        var now = DateTimeOffset.UnixEpoch.AddDays(20_000);
        var candidates = Enumerable.Range(0, Candidates).Select(i => new PostProcessingCandidate(
            "item-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture),
            (float)((_relevance[i] * 6) - 3),
            new ItemMetadata("creator-" + (i % 60).ToString(System.Globalization.CultureInfo.InvariantCulture), ["cat-" + (i % 12).ToString(System.Globalization.CultureInfo.InvariantCulture)], i % 50 != 0),
            now.AddHours(-i),
            _embeddings.AsMemory(i * Dimension, Dimension))).ToArray();
        _request = new PostProcessingRequest(candidates, Count, new SegmentKey(0, 1), "home", now, Calibration: null);
    }

    [Benchmark(Baseline = true)]
    public int NaiveMmr() => NaiveMmr(_relevance, _embeddings, Dimension, Lambda, Count).Length;

    [Benchmark]
    public int IncrementalMmr() => MaximalMarginalRelevance.Select(_relevance, _embeddings, Dimension, Lambda, _chosen).Selected;

    [Benchmark]
    public int FullPipeline() => _pipeline.Process(_request).Items.Count;

    private static int[] NaiveMmr(double[] relevance, float[] embeddings, int d, double lambda, int k)
    {
        var n = relevance.Length;
        var taken = new bool[n];
        var chosen = new List<int>(k);
        while (chosen.Count < k && chosen.Count < n)
        {
            int best = -1;
            var bestScore = double.NegativeInfinity;
            for (var i = 0; i < n; i++)
            {
                if (taken[i])
                {
                    continue;
                }

                var maxSim = chosen.Count == 0 ? 0f : float.NegativeInfinity;
                foreach (var c in chosen)
                {
                    maxSim = Math.Max(maxSim, Cosine(embeddings.AsSpan(i * d, d), embeddings.AsSpan(c * d, d)));
                }

                var score = (lambda * relevance[i]) - ((1 - lambda) * maxSim);
                if (best < 0 || score > bestScore || (score == bestScore && relevance[i] > relevance[best]))
                {
                    best = i;
                    bestScore = score;
                }
            }

            taken[best] = true;
            chosen.Add(best);
        }

        return [.. chosen];
    }

    private static float Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        float dot = 0, na = 0, nb = 0;
        for (var j = 0; j < a.Length; j++)
        {
            dot += a[j] * b[j];
            na += a[j] * a[j];
            nb += b[j] * b[j];
        }

        return dot / (MathF.Sqrt(na) * MathF.Sqrt(nb));
    }

    private static float Gaussian(Random random) =>
        (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
}
