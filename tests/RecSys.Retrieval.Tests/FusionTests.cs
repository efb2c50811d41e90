using RecSys.Candidates;

namespace RecSys.Retrieval.Tests;

public sealed class FusionTests
{
    private const double Tolerance = 1e-12;

    [Fact]
    public void Merge_matches_the_spec_formula_computed_by_hand()
    {
        // A (w=1.0): x@1 score 1.0, y@2 score 0.5.  B (w=0.5): y@1 score 1.0, z@2 score 0.2.
        // x = (1.0*0.7 + 0.3/61) * 1.0                                   = 0.7049180327868853
        // y = ((0.5*0.7 + 0.3/62) * 1.0 + (1.0*0.7 + 0.3/61) * 0.5) * 1.2 = 0.8487572712850343 (two sources: x(1 + 0.1*2))
        // z = (0.2*0.7 + 0.3/62) * 0.5                                   = 0.07241935483870968
        var fused = CandidateFusion.Merge(
        [
            new SourceResult("a", 1.0, [new("x", 1.0), new("y", 0.5)]),
            new SourceResult("b", 0.5, [new("y", 1.0), new("z", 0.2)]),
        ]);

        Assert.Equal(["y", "x", "z"], fused.Select(c => c.ItemId));
        Assert.Equal(0.8487572712850343, fused[0].Score, Tolerance);
        Assert.Equal(0.7049180327868853, fused[1].Score, Tolerance);
        Assert.Equal(0.07241935483870968, fused[2].Score, Tolerance);
        Assert.Equal(["a", "b"], fused[0].Sources);
        Assert.Equal(["a"], fused[1].Sources);
        Assert.Equal(["b"], fused[2].Sources);
    }

    [Fact]
    public void Three_sources_get_a_thirty_percent_bonus()
    {
        // i: rank 1 score 1.0 in a (1.0), rank 3 score 0.4 in b (0.9), rank 5 score 0.1 in c (0.7), bonus x1.3.
        var fused = CandidateFusion.Merge(
        [
            new SourceResult("a", 1.0, [new("i", 1.0)]),
            new SourceResult("b", 0.9, [new("p", 1.0), new("q", 0.9), new("i", 0.4)]),
            new SourceResult("c", 0.7, [new("r", 1.0), new("s", 0.9), new("t", 0.8), new("u", 0.7), new("i", 0.1)]),
        ]);

        var i = fused.Single(c => c.ItemId == "i");
        Assert.Equal(1.3174648711943793, i.Score, Tolerance);
        Assert.Equal(["a", "b", "c"], i.Sources);
        Assert.Equal("i", fused[0].ItemId);
    }

    [Fact]
    public void Ties_are_broken_by_item_id_and_duplicates_within_a_source_count_once()
    {
        var fused = CandidateFusion.Merge(
        [
            new SourceResult("a", 1.0, [new("m", 0.5)]),
            new SourceResult("b", 1.0, [new("k", 0.5), new("k", 0.5)]),
        ]);

        Assert.Equal(["k", "m"], fused.Select(c => c.ItemId));
        Assert.Equal(fused[0].Score, fused[1].Score);
        Assert.Equal((0.5 * 0.7) + (0.3 / 61), fused[0].Score, Tolerance);
        Assert.Equal(["b"], fused[0].Sources);
    }

    [Fact]
    public void Extending_the_last_source_gives_bit_for_bit_the_fusion_of_the_longer_lists()
    {
        // Overlapping lists (a shared pool of ids) with repeats inside a list; the last one is taken in three steps.
        var random = new Random(11);
        var lists = Enumerable.Range(0, 4)
            .Select(_ => Enumerable.Range(0, 400).Select(_ => new ScoredItem($"i{random.Next(600)}", random.NextDouble())).ToArray())
            .ToArray();
        double[] weights = [1.0, 0.9, 0.85, 0.7];
        const int First = 50;

        var fusion = new FusionAccumulator();
        for (var s = 0; s < lists.Length; s++)
        {
            fusion.Add(fusion.AddSource($"s{s}", weights[s]), lists[s], s == lists.Length - 1 ? First : lists[s].Length);
        }

        var before = fusion.Rank();
        AssertSameRanking(CandidateFusion.Merge([.. lists.Select((l, s) => new SourceResult($"s{s}", weights[s], s == 3 ? l[..First] : l))]), before, fusion);
        fusion.Add(3, lists[3], 51);
        fusion.Add(3, lists[3], 300);
        fusion.Add(3, lists[3], lists[3].Length);
        var extended = fusion.Rank();

        AssertSameRanking(CandidateFusion.Merge([.. lists.Select((l, s) => new SourceResult($"s{s}", weights[s], l))]), extended, fusion);
        Assert.Equal(lists[3].Length, fusion.Taken(3));
    }

    [Fact]
    public void Ranking_a_subset_keeps_the_order_of_the_whole_and_candidates_share_source_lists()
    {
        var fusion = new FusionAccumulator();
        fusion.Add(fusion.AddSource("a", 1.0), [new("x", 1.0), new("y", 0.8), new("z", 0.6), new("w", 0.4)], 4);
        fusion.Add(fusion.AddSource("b", 0.5), [new("y", 1.0), new("w", 0.9)], 2);

        var all = fusion.Rank();
        var odd = fusion.Rank(entry => entry % 2 == 1);

        Assert.Equal(all.Where(r => r.Entry % 2 == 1).Select(r => r.ItemId), odd.Select(r => r.ItemId));
        Assert.Equal(["a", "b"], fusion.SourcesOf(all.Single(r => r.ItemId == "y").Entry));
        Assert.Same(fusion.SourcesOf(all.Single(r => r.ItemId == "y").Entry), fusion.SourcesOf(all.Single(r => r.ItemId == "w").Entry));
        Assert.Same(fusion.SourcesOf(all.Single(r => r.ItemId == "x").Entry), fusion.SourcesOf(all.Single(r => r.ItemId == "z").Entry));
    }

    [Fact]
    public void A_reset_fusion_ranks_like_a_new_one_and_earlier_source_lists_stay_intact()
    {
        var fusion = new FusionAccumulator(4);
        fusion.Add(fusion.AddSource("a", 1.0), [new("x", 1.0), new("y", 0.5), new("z", 0.25)], 3);
        fusion.Add(fusion.AddSource("b", 0.5), [new("y", 1.0)], 1);
        var firstSources = fusion.SourcesOf(fusion.Rank()[0].Entry);
        var reused = fusion.RankReusing().ToArray();

        fusion.Reset(2);
        List<SourceResult> second = [new("c", 0.8, [new("q", 0.9), new("x", 0.1)]), new("a", 1.0, [new("x", 0.7)])];
        foreach (var (source, weight, items) in second)
        {
            fusion.Add(fusion.AddSource(source, weight), items, items.Count);
        }

        AssertSameRanking(CandidateFusion.Merge(second), fusion.Rank(), fusion);
        Assert.Equal(fusion.Rank().Select(r => r.ItemId), fusion.RankReusing().ToArray().Select(r => r.ItemId));
        Assert.Equal(["a", "b"], firstSources);
        Assert.Equal(["y", "x", "z"], reused.Select(r => r.ItemId));
    }

    [Theory]
    [InlineData(64)] // distinct keys: each id's own
    [InlineData(7)] // many ids share a key, as if the hash collided
    public void A_keyed_fusion_ranks_bit_for_bit_as_the_fusion_by_id(int keySpace)
    {
        var random = new Random(5);
        var lists = Enumerable.Range(0, 4)
            .Select(_ => Enumerable.Range(0, 300).Select(_ => new ScoredItem($"i{random.Next(500)}", random.NextDouble())).ToArray())
            .ToArray();
        // The same id always has the same key; ids are fresh strings per list (equal, not the same object) as the store gives them.
        long KeyOf(string id) => int.Parse(id.AsSpan(1), System.Globalization.CultureInfo.InvariantCulture) % keySpace;
        lists = [.. lists.Select(l => l.Select(i => new ScoredItem(new string(i.ItemId.AsSpan()), i.Score)).ToArray())];
        double[] weights = [1.0, 0.9, 0.85, 0.7];

        var keyed = new FusionAccumulator(16);
        for (var s = 0; s < lists.Length; s++)
        {
            var keys = lists[s].Select(i => KeyOf(i.ItemId)).ToArray();
            keyed.Add(keyed.AddSource($"s{s}", weights[s]), lists[s], s == 3 ? 100 : lists[s].Length, keys);
            if (s == 3)
            {
                keyed.Add(3, lists[3], lists[3].Length, keys);
            }
        }

        AssertSameRanking(CandidateFusion.Merge([.. lists.Select((l, s) => new SourceResult($"s{s}", weights[s], l))]), keyed.Rank(), keyed);
        for (var e = 0; e < keyed.Count; e++)
        {
            Assert.Equal(KeyOf(keyed.ItemIdAt(e)), keyed.KeyAt(e));
        }

        Assert.Throws<InvalidOperationException>(() => keyed.Contains("i1"));
        Assert.Throws<InvalidOperationException>(() => keyed.Add(0, lists[0], lists[0].Length));
        keyed.Reset(4);
        keyed.Add(keyed.AddSource("a", 1.0), lists[0], 10);
        Assert.Equal(lists[0].Take(10).Select(i => i.ItemId).Distinct().Count(), keyed.Count);
    }

    [Fact]
    public void Adding_the_next_item_one_at_a_time_gives_the_fusion_of_the_whole_list_and_says_which_were_new()
    {
        // 64-bit keys as the index gives them, a fusion announced far smaller than it grows (its key table grows too).
        var random = new Random(9);
        var lists = Enumerable.Range(0, 3)
            .Select(_ => Enumerable.Range(0, 3_000).Select(_ => new ScoredItem($"i{random.Next(6_000)}", random.NextDouble())).ToArray())
            .ToArray();
        long KeyOf(string id) => (long)((ulong)id.GetHashCode(StringComparison.Ordinal) * 0x9E3779B97F4A7C15UL >> 1);
        var keys = lists.Select(l => l.Select(i => KeyOf(i.ItemId)).ToArray()).ToArray();
        double[] weights = [1.0, 0.8, 0.3];

        var fusion = new FusionAccumulator(16);
        fusion.Add(fusion.AddSource("s0", weights[0]), lists[0], lists[0].Length, keys[0]);
        fusion.Add(fusion.AddSource("s1", weights[1]), lists[1], lists[1].Length, keys[1]);
        var last = fusion.AddSource("s2", weights[2]);
        var known = new HashSet<string>(lists[0].Concat(lists[1]).Select(i => i.ItemId), StringComparer.Ordinal);
        for (var i = 0; i < lists[2].Length; i++)
        {
            Assert.Equal(known.Add(lists[2][i].ItemId), fusion.AddNext(last, lists[2], keys[2]));
            Assert.Equal(i + 1, fusion.Taken(last));
        }

        Assert.False(fusion.AddNext(last, lists[2], keys[2]));
        Assert.Equal(known.Count, fusion.Count);
        AssertSameRanking(CandidateFusion.Merge([.. lists.Select((l, s) => new SourceResult($"s{s}", weights[s], l))]), fusion.Rank(), fusion);
    }

    private static void AssertSameRanking(List<FusedCandidate> expected, RankedCandidate[] actual, FusionAccumulator fusion)
    {
        Assert.Equal(expected.Select(c => c.ItemId), actual.Select(r => r.ItemId));
        Assert.Equal(expected.Select(c => BitConverter.DoubleToInt64Bits(c.Score)), actual.Select(r => BitConverter.DoubleToInt64Bits(r.Score)));
        Assert.Equal(expected.Select(c => string.Join(',', c.Sources)), actual.Select(r => string.Join(',', fusion.SourcesOf(r.Entry))));
    }

    [Fact]
    public void Empty_input_gives_an_empty_list()
    {
        Assert.Empty(CandidateFusion.Merge([]));
        Assert.Empty(CandidateFusion.Merge([new SourceResult("a", 1.0, Array.Empty<ScoredItem>())]));
    }
}
