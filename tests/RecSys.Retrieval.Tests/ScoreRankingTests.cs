using RecSys.Candidates;
using RecSys.Retrieval.Sources;

namespace RecSys.Retrieval.Tests;

public sealed class ScoreRankingTests
{
    private static readonly Comparison<ScoredItem> ByScoreThenId = static (a, b) =>
    {
        var byScore = b.Score.CompareTo(a.Score);
        return byScore != 0 ? byScore : string.CompareOrdinal(a.ItemId, b.ItemId);
    };

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(3_000)]
    public void Sorting_by_primitive_keys_gives_the_order_of_comparing_score_then_id(int count)
    {
        // Few distinct scores: long runs of ties, broken by id (including ids that differ only in case and non-ASCII ones).
        var random = new Random(count);
        var items = Enumerable.Range(0, count)
            .Select(i => new ScoredItem((i % 3) switch { 0 => $"i{random.Next(10_000)}", 1 => $"I{random.Next(10_000)}", _ => $"é{i}" }, random.Next(1, 12) / 7.0))
            .ToArray();
        var expected = items.ToArray();
        Array.Sort(expected, ByScoreThenId);

        ScoreRanking.SortByScoreThenId(items);

        Assert.Equal(expected, items);
    }

    [Fact]
    public void Top_normalized_keeps_the_budget_best_scaled_to_the_first_and_drops_what_carries_no_evidence()
    {
        var scores = ScoreRanking.ScratchScores();
        scores["b"] = 2;
        scores["a"] = 2;
        scores["c"] = 1;
        scores["zero"] = 0;
        scores["nan"] = double.NaN;
        scores["inf"] = double.PositiveInfinity;

        Assert.Equal([new ScoredItem("a", 1), new ScoredItem("b", 1)], ScoreRanking.TopNormalized(scores, 2));
        Assert.Equal([new ScoredItem("a", 1), new ScoredItem("b", 1), new ScoredItem("c", 0.5)], ScoreRanking.TopNormalized(scores, 10));
        Assert.Empty(ScoreRanking.TopNormalized(scores, 0));
    }

    [Fact]
    public void The_scratch_table_is_this_threads_and_comes_back_empty()
    {
        var first = ScoreRanking.ScratchScores();
        first["x"] = 1;

        var second = ScoreRanking.ScratchScores();

        Assert.Same(first, second);
        Assert.Empty(second);
    }
}
