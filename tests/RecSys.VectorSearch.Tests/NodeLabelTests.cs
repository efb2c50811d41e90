namespace RecSys.VectorSearch.Tests;

public class NodeLabelTests
{
    private const int Dim = 16;

    private static HnswOptions Options => new() { Dimension = Dim, Metric = Metric.Cosine, EfConstruction = 64 };

    [Fact]
    public void Labels_grow_past_their_first_capacity_and_keep_what_was_set()
    {
        var labels = new NodeLabels(16);
        labels.Set(3, "three", 1);
        labels.Set(1000, "thousand", 2);
        Assert.Equal("three", labels.Get(3, out var stamp3));
        Assert.Equal(1, stamp3);
        Assert.Equal("thousand", labels.Get(1000, out var stamp1000));
        Assert.Equal(2, stamp1000);
        Assert.Null(labels.Get(999, out _));
        Assert.Null(labels.Get(-1, out _));
        Assert.Null(labels.Get(1 << 20, out _));
        Assert.Null(default(HitLabel).Get(out _));
        default(HitLabel).Set("nowhere", 1); // no table: nothing to keep, no failure
    }

    [Fact]
    public void Search_reports_each_hits_node_and_a_label_set_for_it_comes_back_with_the_same_id()
    {
        var data = TestData.Embeddings(800, Dim, seed: 41);
        var index = new HnswIndex(Options);
        index.AddBatch(Enumerable.Range(0, 800).Select(i => (long)(i * 7)).ToArray(), data);
        var hits = new SearchHit[50];
        var nodes = new int[50];
        var n = index.Search(data.AsSpan(0, Dim), hits, nodes, ef: 100);
        Assert.Equal(50, n);
        Assert.Equal(50, nodes.Distinct().Count());
        for (var i = 0; i < n; i++)
        {
            index.Labels.Set(nodes[i], Label(hits[i].Id), 0);
        }

        // Another query reaches other nodes too: every node that has a label holds the id it was labelled with.
        var again = new SearchHit[200];
        var againNodes = new int[200];
        var m = index.Search(data.AsSpan(5 * Dim, Dim), again, againNodes, ef: 200);
        var labelled = 0;
        for (var i = 0; i < m; i++)
        {
            if (index.Labels.Get(againNodes[i], out _) is { } label)
            {
                Assert.Equal(Label(again[i].Id), label);
                labelled++;
            }
        }

        Assert.True(labelled > 0);
        // The same answer with or without the node output.
        Assert.Equal(hits, index.Search(data.AsSpan(0, Dim), 50, ef: 100));
        Assert.Throws<ArgumentException>(() => index.Search(data.AsSpan(0, Dim), new SearchHit[10], new int[5]));
    }

    [Fact]
    public async Task Inline_and_parallel_scatter_gather_give_the_same_hits_with_labels_of_the_owning_shard()
    {
        var data = TestData.Embeddings(3000, Dim, seed: 42);
        var ids = Enumerable.Range(0, 3000).Select(i => (long)i * 13).ToArray();
        var shards = Enumerable.Range(0, 4).Select(i => new LocalVectorShard(i, Options)).ToArray();
        var inline = new ScatterGatherCoordinator(shards,
            new ScatterGatherOptions { PerShardTimeout = TimeSpan.FromSeconds(30), InlineLocalShards = true });
        var parallel = new ScatterGatherCoordinator(shards,
            new ScatterGatherOptions { PerShardTimeout = TimeSpan.FromSeconds(30), InlineLocalShards = false });
        await inline.UpsertAsync(ids, data);
        for (var q = 0; q < 10; q++)
        {
            var query = data.AsMemory(q * 50 * Dim, Dim);
            var a = await inline.SearchAsync(query, 400, ef: 200);
            var b = await parallel.SearchAsync(query, 400, ef: 200);
            Assert.Equal(a.Hits, b.Hits);
            Assert.Equal(4, a.ShardsAnswered);
            Assert.Equal(a.Hits.Length, a.Labels.Length);
            Assert.Equal(b.Hits.Length, b.Labels.Length);
            for (var i = 0; i < a.Hits.Length; i++)
            {
                var owner = shards[inline.ShardOf(a.Hits[i].Id)];
                Assert.Same(owner.Index.Labels, a.Labels[i].Table);
                Assert.Equal(a.Labels[i], b.Labels[i]);
                var labelled = a.Labels[i].Get(out _);
                Assert.True(labelled is null || labelled == Label(a.Hits[i].Id));
                a.Labels[i].Set(Label(a.Hits[i].Id), 0);
            }
        }
    }

    [Fact]
    public void Merged_labels_follow_their_hits_through_the_sort()
    {
        var left = new NodeLabels();
        var right = new NodeLabels();
        var agg = new TopKAggregator(3);
        agg.AddRange([new SearchHit(1, 0.5f), new SearchHit(2, 0.9f)], left, [10, 20]);
        agg.AddRange([new SearchHit(3, 0.7f), new SearchHit(4, 0.1f)], right, [30, 40]);
        agg.AddRange([new SearchHit(5, 0.8f)]);
        var hits = agg.ToArray(out var labels);
        Assert.Equal([2L, 5L, 3L], hits.Select(h => h.Id));
        Assert.Equal([new HitLabel(left, 20), default, new HitLabel(right, 30)], labels);
    }

    private static string Label(long id) => id.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
