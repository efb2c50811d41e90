namespace RecSys.VectorSearch.Tests;

public class HnswTests
{
    private const int Dim = 64;
    private static readonly Lazy<(float[] data, float[] queries, HnswIndex index)> Shared = new(() =>
    {
        var data = TestData.Embeddings(5000, Dim, seed: 1);
        var queries = TestData.Embeddings(100, Dim, seed: 2);
        return (data, queries, TestData.Build(data, Dim, efc: 200));
    });

    [Fact]
    public void Recall_at_10_is_above_floor_at_ef_100()
    {
        var (data, queries, index) = Shared.Value;
        double sum = 0;
        for (var q = 0; q < 100; q++)
        {
            var query = queries.AsSpan(q * Dim, Dim);
            sum += TestData.Recall(TestData.ExactTopK(data, Dim, query, 10), index.Search(query, 10, ef: 100));
        }
        Assert.True(sum / 100 >= 0.95, $"recall {sum / 100}");
    }

    [Fact]
    public void Results_are_sorted_by_score_and_scores_are_inner_products()
    {
        var (data, queries, index) = Shared.Value;
        var query = queries.AsSpan(0, Dim);
        var hits = index.Search(query, 20);
        Assert.Equal(20, hits.Length);
        for (var i = 1; i < hits.Length; i++) Assert.True(hits[i - 1].Score >= hits[i].Score);
        foreach (var h in hits)
            Assert.Equal(VectorKernels.Dot(data.AsSpan((int)h.Id * Dim, Dim), query), h.Score, 4);
    }

    [Fact]
    public void Sequential_adds_find_exact_self_match()
    {
        var data = TestData.Gaussian(500, 16, seed: 3);
        var index = new HnswIndex(new HnswOptions { Dimension = 16, Metric = Metric.Cosine, InitialCapacity = 16 });
        for (var i = 0; i < 500; i++) index.Add(1000 + i, data.AsSpan(i * 16, 16));
        Assert.Equal(500, index.Count);
        var found = 0;
        for (var i = 0; i < 500; i++)
            if (index.Search(data.AsSpan(i * 16, 16), 1)[0].Id == 1000 + i) found++;
        Assert.True(found >= 495, $"{found}");
        Assert.Throws<ArgumentException>(() => index.Add(1000, data.AsSpan(0, 16)));
    }

    [Fact]
    public void Cosine_normalizes_inserts_and_queries()
    {
        var index = new HnswIndex(new HnswOptions { Dimension = 4, Metric = Metric.Cosine });
        index.Add(1, [10, 0, 0, 0]);
        index.Add(2, [0, 0.1f, 0, 0]);
        var hits = index.Search([0, 5, 0, 0], 2);
        Assert.Equal(2, hits[0].Id);
        Assert.Equal(1f, hits[0].Score, 5);
        Assert.Equal(0f, hits[1].Score, 5);
    }

    [Fact]
    public void Items_added_after_every_item_was_deleted_are_found()
    {
        var data = TestData.Embeddings(300, 32, seed: 7);
        var index = TestData.Build(data, 32);
        for (long i = 0; i < 300; i++)
        {
            Assert.True(index.Delete(i));
        }

        // Replacing the only live items of a region links the new nodes through deleted ones, which stay in the graph.
        var extra = TestData.Embeddings(20, 32, seed: 8);
        for (var i = 0; i < 20; i++)
        {
            index.Add(1_000 + i, extra.AsSpan(i * 32, 32));
        }

        for (var i = 0; i < 20; i++)
        {
            var hits = index.Search(extra.AsSpan(i * 32, 32), 20, ef: 100);
            Assert.Equal(20, hits.Length);
            Assert.Equal(1_000 + i, hits[0].Id);
            Assert.All(hits, h => Assert.True(h.Id >= 1_000));
        }
    }

    [Fact]
    public void Deleted_items_never_come_back()
    {
        var data = TestData.Embeddings(2000, 32, seed: 5);
        var index = TestData.Build(data, 32);
        var deleted = new HashSet<long>();
        for (long i = 0; i < 2000; i += 3)
        {
            Assert.True(index.Delete(i));
            deleted.Add(i);
        }
        Assert.False(index.Delete(0));
        Assert.Equal(2000 - deleted.Count, index.Count);
        for (var q = 0; q < 200; q++)
        {
            var hits = index.Search(data.AsSpan(q * 32, 32), 50, ef: 80);
            Assert.Equal(50, hits.Length);
            Assert.DoesNotContain(hits, h => deleted.Contains(h.Id));
        }
        // Adds after deletes still never surface deleted ids, and a rebuild drops them for good.
        var extra = TestData.Embeddings(200, 32, seed: 6);
        for (var i = 0; i < 200; i++) index.Add(10_000 + i, extra.AsSpan(i * 32, 32));
        var rebuilt = index.Rebuild();
        Assert.Equal(index.Count, rebuilt.Count);
        Assert.Equal(0, rebuilt.DeletedCount);
        Assert.Equal(rebuilt.Count, rebuilt.NodeCount);
        for (var q = 0; q < 100; q++)
        {
            Assert.DoesNotContain(index.Search(data.AsSpan(q * 32, 32), 30), h => deleted.Contains(h.Id));
            Assert.DoesNotContain(rebuilt.Search(data.AsSpan(q * 32, 32), 30), h => deleted.Contains(h.Id));
        }
    }

    [Fact]
    public void Upsert_replaces_the_vector()
    {
        var index = new HnswIndex(new HnswOptions { Dimension = 2, Metric = Metric.InnerProduct });
        index.Add(7, [1, 0]);
        index.Add(8, [0.5f, 0.5f]);
        index.Upsert(7, [-1, 0]);
        Assert.Equal(2, index.Count);
        var hits = index.Search([1, 0], 2);
        Assert.Equal(8, hits[0].Id);
        Assert.Equal(7, hits[1].Id);
        Assert.Equal(-1f, hits[1].Score, 5);
    }

    [Fact]
    public void Filtered_search_returns_only_allowed_ids()
    {
        var (data, queries, index) = Shared.Value;
        var predicate = SearchFilter.FromPredicate(id => id % 7 == 3);
        var allowedSet = new HashSet<long>();
        for (long i = 0; i < 5000; i += 11) allowedSet.Add(i);
        var setFilter = SearchFilter.FromAllowedIds(allowedSet);
        var bitset = index.CreateBitset(allowedSet);
        double recall = 0;
        for (var q = 0; q < 30; q++)
        {
            var query = queries.AsSpan(q * Dim, Dim);
            var a = index.Search(query, 10, ef: 100, filter: predicate);
            Assert.Equal(10, a.Length);
            Assert.All(a, h => Assert.Equal(3, h.Id % 7));
            recall += TestData.Recall(TestData.ExactTopK(data, Dim, query, 10, id => id % 7 == 3), a);
            var b = index.Search(query, 10, filter: setFilter);
            Assert.All(b, h => Assert.Contains(h.Id, allowedSet));
            var c = index.Search(query, 10, bitset: bitset);
            Assert.Equal(b.Select(h => h.Id), c.Select(h => h.Id));
        }
        Assert.True(recall / 30 >= 0.9, $"filtered recall {recall / 30}");
        // A filter that allows nothing returns nothing (and terminates).
        Assert.Empty(index.Search(queries.AsSpan(0, Dim), 10, filter: SearchFilter.FromPredicate(_ => false)));
    }

    [Fact]
    public void Exclusion_filter_answers_as_the_set_predicate()
    {
        var rng = new Random(17);
        foreach (var size in new[] { 0, 1, 3, 150, 5_000 })
        {
            var excluded = new HashSet<long>();
            while (excluded.Count < size) excluded.Add(rng.Next(2) == 0 ? rng.Next(10_000) : rng.NextInt64());
            var filter = SearchFilter.Excluding(excluded);
            foreach (var id in excluded) Assert.False(filter.Allows(id));
            for (var i = 0; i < 20_000; i++)
            {
                var id = i < 10_000 ? i : rng.NextInt64(long.MinValue, long.MaxValue);
                Assert.Equal(!excluded.Contains(id), filter.Allows(id));
            }
            Assert.Equal(filter.Allows(42), filter.Predicate!(42));
        }
    }

    [Fact]
    public void Exclusion_filter_search_matches_the_predicate_search()
    {
        var (_, queries, index) = Shared.Value;
        var excluded = new HashSet<long>();
        for (long i = 0; i < 5000; i += 13) excluded.Add(i);
        var bySet = SearchFilter.Excluding(excluded);
        var byPredicate = SearchFilter.FromPredicate(id => !excluded.Contains(id));
        for (var q = 0; q < 30; q++)
        {
            var query = queries.AsSpan(q * Dim, Dim);
            var expected = index.Search(query, 300, ef: 400, filter: byPredicate);
            var actual = index.Search(query, 300, ef: 400, filter: bySet);
            Assert.Equal(expected, actual);
            Assert.DoesNotContain(actual, h => excluded.Contains(h.Id));
        }
    }

    [Fact]
    public void Batch_search_matches_single_search()
    {
        var (_, queries, index) = Shared.Value;
        var batch = index.SearchBatch(queries, 10, ef: 64);
        Assert.Equal(100, batch.Length);
        for (var q = 0; q < 100; q += 10)
            Assert.Equal(index.Search(queries.AsSpan(q * Dim, Dim), 10, ef: 64).Select(h => h.Id), batch[q].Select(h => h.Id));
    }

    [Fact]
    public async Task Concurrent_searches_during_adds_raise_nothing()
    {
        var data = TestData.Embeddings(4000, 32, seed: 9);
        var index = new HnswIndex(new HnswOptions { Dimension = 32, EfConstruction = 64, InitialCapacity = 64 });
        for (var i = 0; i < 100; i++) index.Add(i, data.AsSpan(i * 32, 32));
        using var stop = new CancellationTokenSource();
        var errors = 0;
        var searches = 0;
        var readers = Enumerable.Range(0, 2).Select(r => Task.Run(() =>
        {
            var rng = new Random(r);
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var q = rng.Next(4000);
                    var hits = index.Search(data.AsSpan(q * 32, 32), 10, ef: 32);
                    if (hits.Length == 0 || hits.Any(h => h.Id < 0 || h.Id >= 4000)) Interlocked.Increment(ref errors);
                    Interlocked.Increment(ref searches);
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref errors);
                }
            }
        })).ToArray();
        // The readers must be searching before the writes start, or a busy machine can run the adds first.
        while (Volatile.Read(ref searches) == 0 && !readers.Any(r => r.IsCompleted))
        {
            await Task.Delay(1);
        }

        // Single adds (which grow the arrays several times) then a parallel batch.
        for (var i = 100; i < 2000; i++) index.Add(i, data.AsSpan(i * 32, 32));
        var ids = Enumerable.Range(2000, 2000).Select(i => (long)i).ToArray();
        index.AddBatch(ids, data.AsMemory(2000 * 32, 2000 * 32));
        stop.Cancel();
        await Task.WhenAll(readers);
        Assert.Equal(0, errors);
        Assert.True(searches > 0);
        Assert.Equal(4000, index.Count);
    }
}
