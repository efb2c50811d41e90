namespace RecSys.VectorSearch.Tests;

/// <summary>The exact-scan plan: equal to brute force (ids, score bits, order, ties), deletes and filters, the planner, shards.</summary>
public sealed class ExactScanTests
{
    private static HnswIndex Build(float[] data, int dim, Metric metric = Metric.InnerProduct, int m = 8)
    {
        var n = data.Length / dim;
        var index = new HnswIndex(new HnswOptions { Dimension = dim, Metric = metric, M = m, EfConstruction = 40, InitialCapacity = 16 });
        index.AddBatch(Enumerable.Range(0, n).Select(i => (long)i).ToArray(), data, maxDegreeOfParallelism: 1);
        return index;
    }

    /// <summary>Brute force over the stored vectors: score = the active kernel's dot, best first, equal scores by ascending id.</summary>
    private static SearchHit[] BruteForce(HnswIndex index, ReadOnlySpan<float> query, int k, Func<long, bool>? allow = null)
    {
        var q = query.ToArray();
        if (index.Metric == Metric.Cosine) VectorKernels.Normalize(q);
        var v = new float[index.Dimension];
        var all = new List<SearchHit>();
        foreach (var id in index.GetIds())
        {
            if (allow is not null && !allow(id)) continue;
            Assert.True(index.TryGetVector(id, v));
            all.Add(new SearchHit(id, -(-VectorKernels.Dot(v, q))));
        }

        return [.. all.OrderByDescending(h => h.Score).ThenBy(h => h.Id).Take(k)];
    }

    private static SearchHit[] Scan(HnswIndex index, ReadOnlySpan<float> query, int k, SearchFilter? filter = null, FilterBitset? bitset = null)
    {
        var hits = new SearchHit[k];
        var nodes = new int[k];
        var n = index.Search(query, hits, nodes, SearchPlan.ExactScan, 0, filter, bitset);
        return hits[..n];
    }

    private static void AssertSame(SearchHit[] expected, SearchHit[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].Id, actual[i].Id);
            Assert.Equal(BitConverter.SingleToInt32Bits(expected[i].Score), BitConverter.SingleToInt32Bits(actual[i].Score));
        }
    }

    [Theory]
    [InlineData(16, 1000, 10)]
    [InlineData(16, 1003, 300)]
    [InlineData(16, 37, 50)]
    [InlineData(64, 777, 100)]
    [InlineData(7, 500, 25)]
    [InlineData(256, 300, 40)]
    public void Scan_equals_brute_force(int dim, int n, int k)
    {
        var data = TestData.Embeddings(n, dim, seed: dim + n);
        var index = Build(data, dim);
        var queries = TestData.Embeddings(20, dim, seed: 7 * dim);
        for (var q = 0; q < 20; q++)
        {
            var query = queries.AsSpan(q * dim, dim);
            AssertSame(BruteForce(index, query, k), Scan(index, query, k));
        }
    }

    [Fact]
    public void Scores_at_d16_are_those_of_the_kernel_bit_for_bit_with_signed_zeros_and_cancellations()
    {
        const int dim = 16;
        const int n = 640;
        var rng = new Random(16);
        var data = new float[n * dim];
        var query = new float[dim];
        for (var i = 0; i < dim; i++) query[i] = i % 5 == 0 ? 0f : (float)TestData.Normal(rng);
        for (var row = 0; row < n; row++)
        {
            for (var i = 0; i < dim; i++)
            {
                // Exact zeros of either sign and pairs whose products cancel, where the order of the additions shows.
                data[(row * dim) + i] = row % 7 == 0 && i % 3 == 0 ? (i % 2 == 0 ? -0f : 0f)
                    : row % 5 == 0 && i >= 8 && query[i] != 0 ? -data[(row * dim) + i - 8] * query[i - 8] / query[i]
                    : (float)(TestData.Normal(rng) * Math.Pow(10, rng.Next(-3, 4)));
            }
        }

        var index = Build(data, dim);
        var got = Scan(index, query, n);
        Assert.Equal(n, got.Length);
        foreach (var hit in got)
        {
            var expected = VectorKernels.Dot(data.AsSpan((int)hit.Id * dim, dim), query);
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(hit.Score));
        }
    }

    [Fact]
    public void Scan_skips_deleted_nodes_and_sees_replacements()
    {
        const int dim = 16;
        var data = TestData.Embeddings(900, dim, seed: 3);
        var index = Build(data, dim);
        for (long id = 0; id < 900; id += 3) Assert.True(index.Delete(id));
        var replacement = TestData.Embeddings(1, dim, seed: 99);
        index.Upsert(1, replacement);
        var query = TestData.Embeddings(1, dim, seed: 5);
        var got = Scan(index, query, 200);
        Assert.DoesNotContain(got, h => h.Id % 3 == 0);
        AssertSame(BruteForce(index, query, 200), got);

        // The replaced vector is the one scored.
        var own = Scan(index, replacement, 1);
        Assert.Equal(1, own[0].Id);
    }

    [Fact]
    public void Scan_respects_every_kind_of_filter()
    {
        const int dim = 16;
        var data = TestData.Embeddings(1500, dim, seed: 11);
        var index = Build(data, dim);
        var query = TestData.Embeddings(1, dim, seed: 12);
        var excluded = Enumerable.Range(0, 1500).Where(i => i % 4 == 1).Select(i => (long)i).ToHashSet();
        AssertSame(BruteForce(index, query, 120, id => !excluded.Contains(id)), Scan(index, query, 120, SearchFilter.Excluding(excluded)));
        AssertSame(BruteForce(index, query, 120, id => id % 2 == 0), Scan(index, query, 120, SearchFilter.FromPredicate(id => id % 2 == 0)));

        // A filter that leaves fewer than k: everything it allows comes back.
        var allowed = new HashSet<long> { 5, 77, 900, 1499 };
        AssertSame(BruteForce(index, query, 10, allowed.Contains), Scan(index, query, 10, SearchFilter.FromAllowedIds(allowed)));
        var bitset = index.CreateBitset(allowed);
        AssertSame(BruteForce(index, query, 10, allowed.Contains), Scan(index, query, 10, bitset: bitset));
    }

    [Fact]
    public void Equal_scores_are_ordered_and_cut_by_ascending_id()
    {
        const int dim = 16;
        var rng = new Random(21);
        var distinct = TestData.Embeddings(40, dim, seed: 21);
        // 400 items, each of the 40 vectors ten times under shuffled ids: every score is shared by ten ids.
        var ids = Enumerable.Range(0, 400).Select(i => (long)i).OrderBy(_ => rng.Next()).ToArray();
        var data = new float[400 * dim];
        for (var i = 0; i < 400; i++) distinct.AsSpan((i % 40) * dim, dim).CopyTo(data.AsSpan(i * dim, dim));
        var index = new HnswIndex(new HnswOptions { Dimension = dim, Metric = Metric.InnerProduct, M = 8, EfConstruction = 40 });
        index.AddBatch(ids, data, maxDegreeOfParallelism: 1);
        var query = TestData.Embeddings(1, dim, seed: 22);
        foreach (var k in new[] { 1, 5, 10, 15, 33, 400 })
        {
            AssertSame(BruteForce(index, query, k), Scan(index, query, k));
        }
    }

    [Fact]
    public void Scan_of_a_loaded_snapshot_and_of_a_cosine_index_equals_brute_force()
    {
        const int dim = 16;
        var data = TestData.Gaussian(700, dim, seed: 8);
        var index = Build(data, dim, Metric.Cosine);
        index.Delete(10);
        var path = Path.Combine(Path.GetTempPath(), $"scan-{Guid.NewGuid():N}.rsnap");
        try
        {
            HnswSnapshot.Save(index, path);
            var loaded = HnswSnapshot.Load(path);
            var query = TestData.Gaussian(1, dim, seed: 9);
            AssertSame(BruteForce(index, query, 64), Scan(loaded, query, 64));
            AssertSame(Scan(index, query, 64), Scan(loaded, query, 64));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Scan_handles_more_k_than_items_and_an_empty_index()
    {
        var empty = new HnswIndex(new HnswOptions { Dimension = 16, Metric = Metric.InnerProduct });
        Assert.Empty(Scan(empty, new float[16], 5));
        var data = TestData.Embeddings(9, 16, seed: 4);
        var index = Build(data, 16);
        var query = TestData.Embeddings(1, 16, seed: 40);
        AssertSame(BruteForce(index, query, 9), Scan(index, query, 50));
    }

    [Fact]
    public void Planner_chooses_as_configured()
    {
        var options = new ExactScanOptions { MaxVectorBytes = 64_000, MinBeamFraction = 0.02 };
        Assert.Equal(SearchPlan.ExactScan, options.Choose(k: 10, ef: 100, nodeCount: 1000, dimension: 16));
        Assert.Equal(SearchPlan.Graph, options.Choose(k: 10, ef: 10, nodeCount: 1001, dimension: 16));
        Assert.Equal(SearchPlan.Graph, options.Choose(k: 10, ef: 100, nodeCount: 25_000, dimension: 16));
        Assert.Equal(SearchPlan.ExactScan, options.Choose(k: 717, ef: 100, nodeCount: 25_000, dimension: 16));
        Assert.Equal(SearchPlan.ExactScan, options.Choose(k: 10, ef: 500, nodeCount: 25_000, dimension: 16));
        Assert.Equal(SearchPlan.Graph, options.Choose(k: 499, ef: 100, nodeCount: 25_000, dimension: 16));

        // Wider vectors: the fraction grows as (d / 16)^0.75 (x 8 at 256) and the byte budget covers fewer nodes.
        Assert.Equal(SearchPlan.Graph, options.Choose(k: 717, ef: 100, nodeCount: 25_000, dimension: 256));
        Assert.Equal(SearchPlan.ExactScan, options.Choose(k: 4000, ef: 100, nodeCount: 25_000, dimension: 256));
        Assert.Equal(SearchPlan.Graph, options.Choose(k: 10, ef: 10, nodeCount: 100, dimension: 256));

        Assert.Equal(SearchPlan.Graph, ExactScanOptions.Disabled.Choose(k: 717, ef: 100, nodeCount: 100, dimension: 16));
        Assert.Equal(SearchPlan.Graph, options.Choose(k: 0, ef: 100, nodeCount: 10, dimension: 16));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LocalVectorShard(0, new HnswOptions { Dimension = 4 }, new ExactScanOptions { MinBeamFraction = double.NaN }));
    }

    [Fact]
    public async Task A_shard_reports_its_plan_and_large_shards_still_walk_the_graph()
    {
        const int dim = 16;
        var data = TestData.Embeddings(3000, dim, seed: 50);
        var index = Build(data, dim);
        var query = TestData.Embeddings(1, dim, seed: 51);
        var planned = new LocalVectorShard(0, index, new ExactScanOptions { MaxVectorBytes = 6_400, MinBeamFraction = 0.05 });
        var small = await planned.SearchAsync(query, new ShardSearchRequest(10, Ef: 32));
        Assert.Equal(SearchPlan.Graph, small.Plan);
        var large = await planned.SearchAsync(query, new ShardSearchRequest(200));
        Assert.Equal(SearchPlan.ExactScan, large.Plan);
        AssertSame(BruteForce(index, query, 200), large.Hits);
        Assert.Equal(large.Hits.Select(h => h.Id), large.Nodes!.Select(n => index.Storage.Ids[n]));

        var off = new LocalVectorShard(0, index, ExactScanOptions.Disabled);
        Assert.Equal(SearchPlan.Graph, (await off.SearchAsync(query, new ShardSearchRequest(200))).Plan);
    }

    [Fact]
    public async Task Sharded_scan_answers_have_recall_one_against_brute_force()
    {
        const int dim = 16;
        const int n = 8000;
        var data = TestData.Embeddings(n, dim, seed: 60);
        var ids = Enumerable.Range(0, n).Select(i => (long)i).ToArray();
        var options = new HnswOptions { Dimension = dim, Metric = Metric.InnerProduct, M = 8, EfConstruction = 40 };
        var coord = ScatterGatherCoordinator.CreateLocal(4, options, new ScatterGatherOptions { PerShardTimeout = TimeSpan.FromSeconds(30) },
            new ExactScanOptions { MaxVectorBytes = 0, MinBeamFraction = 0.01 });
        await coord.UpsertAsync(ids, data);
        var single = Build(data, dim);
        var queries = TestData.Embeddings(10, dim, seed: 61);
        var excluded = Enumerable.Range(0, 300).Select(i => (long)(i * 7)).ToHashSet();
        for (var q = 0; q < 10; q++)
        {
            var query = new ReadOnlyMemory<float>(queries, q * dim, dim);
            var result = await coord.SearchAsync(query, 1000, filter: SearchFilter.Excluding(excluded));
            Assert.Equal(4, result.ExactScans);
            var truth = BruteForce(single, query.Span, 1000, id => !excluded.Contains(id));
            // The per-shard limit is probabilistic: recall against the exact top-1000 is measured, and at 4 sigma is 1.
            var got = result.Hits.Select(h => h.Id).ToHashSet();
            Assert.Equal(1.0, truth.Count(h => got.Contains(h.Id)) / (double)truth.Length);
            AssertSame(truth, result.Hits);
        }
    }
}
