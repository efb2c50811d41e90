using RecSys.Core.Domain;
using RecSys.Learning.Interactions;

namespace RecSys.Learning.Tests;

public sealed class InteractionMatrixTests
{
    [Fact]
    public void Build_sorts_rows_sums_duplicates_and_transposes()
    {
        int[] users = [2, 0, 2, 0, 1, 2];
        int[] items = [1, 3, 0, 3, 2, 1];
        float[] values = [1f, 2f, 3f, 4f, 5f, 6f];

        var m = InteractionMatrix.Build(3, 4, users, items, values);

        Assert.Equal(4, m.InteractionCount);
        Assert.Equal([3], m.UserItems.RowColumns(0).ToArray());
        Assert.Equal([6f], m.UserItems.RowValues(0).ToArray());
        Assert.Equal([2], m.UserItems.RowColumns(1).ToArray());
        Assert.Equal([0, 1], m.UserItems.RowColumns(2).ToArray());
        Assert.Equal([3f, 7f], m.UserItems.RowValues(2).ToArray());

        Assert.Equal([2], m.ItemUsers.RowColumns(0).ToArray());
        Assert.Equal([2], m.ItemUsers.RowColumns(1).ToArray());
        Assert.Equal([7f], m.ItemUsers.RowValues(1).ToArray());
        Assert.Equal([1], m.ItemUsers.RowColumns(2).ToArray());
        Assert.Equal([0], m.ItemUsers.RowColumns(3).ToArray());
        Assert.Equal([1, 1, 1, 1], m.ItemPopularity());
        Assert.True(m.UserItems.Contains(2, 1));
        Assert.False(m.UserItems.Contains(2, 3));
    }

    [Fact]
    public void Build_matches_a_dictionary_on_a_large_random_input()
    {
        var rng = new Random(7);
        const int N = 300_000;
        var users = new int[N];
        var items = new int[N];
        var values = new float[N];
        var expected = new Dictionary<(int, int), float>();
        for (var e = 0; e < N; e++)
        {
            users[e] = rng.Next(500);
            items[e] = rng.Next(2000);
            values[e] = 1 + rng.Next(3);
            expected[(users[e], items[e])] = expected.GetValueOrDefault((users[e], items[e])) + values[e];
        }

        var m = InteractionMatrix.Build(500, 2000, users, items, values);

        Assert.Equal(expected.Count, m.InteractionCount);
        Assert.Equal(expected.Count, m.ItemUsers.NonZeroCount);
        for (var u = 0; u < 500; u++)
        {
            var cols = m.UserItems.RowColumns(u);
            var vals = m.UserItems.RowValues(u);
            for (var k = 0; k < cols.Length; k++)
            {
                Assert.True(k == 0 || cols[k - 1] < cols[k]);
                Assert.Equal(expected[(u, cols[k])], vals[k]);
            }
        }
    }

    [Fact]
    public void Build_rejects_out_of_range_and_mismatched_input()
    {
        Assert.Throws<ArgumentException>(() => InteractionMatrix.Build(2, 2, [0, 2], [0, 1], [1f, 1f]));
        Assert.Throws<ArgumentException>(() => InteractionMatrix.Build(2, 2, [0], [0, 1], [1f, 1f]));
        Assert.Throws<ArgumentException>(() => InteractionMatrix.Build(2, 2, [0], [0], [float.NaN]));
    }

    [Fact]
    public void IdIndexMap_assigns_dense_indices_in_first_seen_order()
    {
        var map = new IdIndexMap<string>();
        Assert.Equal(0, map.GetOrAdd("b"));
        Assert.Equal(1, map.GetOrAdd("a"));
        Assert.Equal(0, map.GetOrAdd("b"));
        Assert.Equal("a", map.IdAt(1));
        Assert.True(map.TryGetIndex("a", out var index));
        Assert.Equal(1, index);
        Assert.Throws<ArgumentOutOfRangeException>(() => map.IdAt(2));
    }

    [Fact]
    public void Confidence_decays_by_half_life_and_ignores_impressions()
    {
        var now = new DateTimeOffset(2026, 1, 31, 0, 0, 0, TimeSpan.Zero);
        var f = new ConfidenceFunction(new ConfidenceOptions { Alpha = 2f, HalfLife = TimeSpan.FromDays(10) }, now);

        Assert.Equal(0f, f.Strength(EventType.Impression, null, now));
        Assert.Equal(5f, f.Strength(EventType.Purchase, null, now), 5);
        Assert.Equal(2.5f, f.Strength(EventType.Purchase, null, now.AddDays(-10)), 5);
        Assert.Equal(1f, f.Strength(EventType.Rating, 4.0, now.AddDays(-20)) * 4 / 3, 5);
        Assert.Equal(1f + (2f * 3.5f), f.Confidence(3.5f), 5);
        Assert.Throws<ArgumentException>(() => new ConfidenceFunction(new ConfidenceOptions { Alpha = -1 }, now));
    }
}
