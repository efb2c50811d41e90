using CsCheck;

namespace RecSys.VectorSearch.Tests;

public class MergeTests
{
    [Fact]
    public void Merged_top_k_of_random_splits_equals_global_top_k()
    {
        var gen =
            from n in Gen.Int[0, 300]
            from scores in Gen.Int[-50, 50].Array[n]
            from parts in Gen.Int[1, 6]
            from assign in Gen.Int[0, 5].Array[n]
            from k in Gen.Int[0, 80]
            select (scores, parts, assign, k);
        gen.Sample(t =>
        {
            var (scores, parts, assign, k) = t;
            var all = scores.Select((s, i) => new SearchHit(i, s / 4f)).ToArray();
            var expected = all.OrderByDescending(h => h.Score).ThenBy(h => h.Id).Take(k).ToArray();
            var agg = new TopKAggregator(k);
            for (var p = 0; p < parts; p++)
            {
                // Each split answers its own top-k, as a shard would.
                var local = all.Where((_, i) => assign[i] % parts == p).OrderByDescending(h => h.Score).ThenBy(h => h.Id).Take(k).ToArray();
                agg.AddRange(local);
            }
            return agg.ToArray().SequenceEqual(expected);
        }, iter: 300);
    }

    [Fact]
    public void Duplicates_keep_their_best_score()
    {
        var agg = new TopKAggregator(3);
        agg.AddRange([new SearchHit(1, 0.5f), new SearchHit(2, 0.4f), new SearchHit(1, 0.9f), new SearchHit(3, 0.1f), new SearchHit(4, 0.45f)]);
        Assert.Equal([new SearchHit(1, 0.9f), new SearchHit(4, 0.45f), new SearchHit(2, 0.4f)], agg.ToArray());
    }
}
