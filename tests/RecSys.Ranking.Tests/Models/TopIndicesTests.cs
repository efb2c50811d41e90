using RecSys.Ranking.Serving;

namespace RecSys.Ranking.Tests.Models;

public sealed class TopIndicesTests
{
    [Theory]
    [InlineData(1, 5_000, 500)]
    [InlineData(2, 5_000, 1)]
    [InlineData(3, 1_000, 499)]
    [InlineData(4, 1_000, 500)]
    [InlineData(5, 10, 0)]
    [InlineData(6, 3, 10)]
    [InlineData(7, 2_000, 2_000)]
    public void Selecting_the_best_k_gives_the_prefix_of_the_full_sort(int seed, int count, int keep)
    {
        var random = new Random(seed);
        for (var trial = 0; trial < 20; trial++)
        {
            // Few distinct values (many ties, broken by index), some NaN (sorted last) and infinities.
            var scores = new float[count];
            for (var i = 0; i < count; i++)
            {
                scores[i] = random.Next(40) switch
                {
                    0 => float.NaN,
                    1 => float.NegativeInfinity,
                    2 => float.PositiveInfinity,
                    _ => random.Next(trial % 2 == 0 ? 30 : 100_000) / 7f,
                };
            }

            var full = new int[count];
            TopIndices.Sort(scores, count, full);
            var selected = new int[count];
            TopIndices.SelectTop(scores, count, keep, selected);
            var kept = Math.Min(keep, count);
            Assert.Equal(full.AsSpan(0, kept).ToArray(), selected.AsSpan(0, kept).ToArray());
        }
    }
}
