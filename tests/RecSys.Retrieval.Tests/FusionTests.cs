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
    public void Empty_input_gives_an_empty_list()
    {
        Assert.Empty(CandidateFusion.Merge([]));
        Assert.Empty(CandidateFusion.Merge([new SourceResult("a", 1.0, Array.Empty<ScoredItem>())]));
    }
}
