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
    public void Merging_ranked_runs_gives_what_sorting_all_hits_gives_labels_included()
    {
        var random = new Random(3);
        var labels = new NodeLabels();
        for (var node = 0; node < 2_000; node++)
        {
            labels.Set(node, $"item-{node}", 1);
        }

        for (var round = 0; round < 50; round++)
        {
            // Runs ranked as shards answer (ties and NaN scores included), some ids in two runs with different scores.
            var runs = Enumerable.Range(0, 1 + random.Next(6)).Select(_ => Enumerable.Range(0, random.Next(200))
                .Select(_ => random.Next(500))
                .Select(id => (Hit: new SearchHit(id, random.Next(20) == 0 ? float.NaN : random.Next(40) / 8f), Node: id))
                .OrderBy(h => h.Hit, Comparer<SearchHit>.Create((a, b) => b.Score.CompareTo(a.Score) is var c && c != 0 ? c : a.Id.CompareTo(b.Id)))
                .ToArray()).ToArray();
            var k = random.Next(1, 400);
            var merged = new TopKAggregator(k);
            foreach (var run in runs)
            {
                merged.AddRange([.. run.Select(h => h.Hit)], labels, [.. run.Select(h => h.Node)]);
            }

            // The same hits one at a time past the runs a merge takes: sorted.
            var sorted = new TopKAggregator(k);
            sorted.AddRange([], labels, []);
            foreach (var (hit, node) in runs.SelectMany(r => r).OrderBy(_ => random.Next()))
            {
                sorted.AddRange([hit], labels, [node]);
            }

            var fromMerge = merged.ToArray(out var mergeLabels);
            var fromSort = sorted.ToArray(out var sortLabels);
            Assert.Equal(fromSort, fromMerge);
            // Each hit keeps its own node's label (an item's node, as in a shard).
            Assert.Equal(fromSort.Select(h => $"item-{h.Id}"), mergeLabels.Select(l => l.Get(out _)));
            Assert.Equal(sortLabels, mergeLabels);
        }
    }

    [Fact]
    public void Duplicates_keep_their_best_score()
    {
        var agg = new TopKAggregator(3);
        agg.AddRange([new SearchHit(1, 0.5f), new SearchHit(2, 0.4f), new SearchHit(1, 0.9f), new SearchHit(3, 0.1f), new SearchHit(4, 0.45f)]);
        Assert.Equal([new SearchHit(1, 0.9f), new SearchHit(4, 0.45f), new SearchHit(2, 0.4f)], agg.ToArray());
    }
}
