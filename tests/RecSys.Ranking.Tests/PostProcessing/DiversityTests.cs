using RecSys.Ranking.PostProcessing;
using static RecSys.Ranking.Tests.PostProcessing.PostProcessingTestKit;

namespace RecSys.Ranking.Tests.PostProcessing;

public sealed class DiversityTests
{
    // A and B point the same way, C is orthogonal to A, D opposite to A.
    private static readonly double[] Relevance = [0.9, 0.8, 0.5, 0.4];
    private static readonly float[] Embeddings = [1, 0, 3, 0.3f, 0, 2, -1, 0];

    private static int[] Select(double lambda, int count, double[]? relevance = null, float[]? embeddings = null, int dimension = 2)
    {
        var chosen = new int[count];
        var outcome = MaximalMarginalRelevance.Select(relevance ?? Relevance, embeddings ?? Embeddings, dimension, lambda, chosen);
        return chosen[..outcome.Selected];
    }

    [Fact]
    public void Lambda_one_is_the_relevance_order()
    {
        Assert.Equal([0, 1, 2, 3], Select(1, 4));
    }

    [Fact]
    public void Lambda_zero_takes_the_most_relevant_then_the_least_similar_each_time()
    {
        // After A: maxSim B 0.995, C 0, D -1 -> D. Then B max(0.995, -0.995), C max(0, 0) -> C, then B.
        Assert.Equal([0, 3, 2, 1], Select(0, 4));
    }

    [Fact]
    public void An_intermediate_lambda_trades_relevance_against_similarity_as_computed_by_hand()
    {
        // lambda 0.5 after A: B 0.5*0.8 - 0.5*0.995 = -0.048, C 0.25, D 0.2 + 0.5 = 0.7 -> D.
        // Then B: 0.4 - 0.5*0.995 = -0.098, C: 0.25 - 0 = 0.25 -> C, then B.
        Assert.Equal([0, 3, 2], Select(0.5, 3));
        // lambda 0.9 after A: B 0.72 - 0.0995 = 0.6205, C 0.45, D 0.36 + 0.1 = 0.46 -> B.
        Assert.Equal([0, 1], Select(0.9, 2));
    }

    [Fact]
    public void Items_without_embedding_are_dissimilar_to_everything()
    {
        float[] embeddings = [1, 0, 1, 0, 0, 0];

        Assert.Equal([0, 2, 1], Select(0.5, 3, [0.9, 0.8, 0.3], embeddings));
    }

    [Fact]
    public void The_incremental_selection_matches_a_brute_force_recomputation()
    {
        var random = new Random(5);
        const int n = 80, d = 13;
        var relevance = Enumerable.Range(0, n).Select(_ => random.NextDouble()).ToArray();
        var embeddings = Enumerable.Range(0, n * d).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();
        foreach (var lambda in new[] { 0.0, 0.3, 0.7 })
        {
            Assert.Equal(BruteForce(relevance, embeddings, d, lambda, 25), Select(lambda, 25, relevance, embeddings, d));
        }
    }

    [Fact]
    public void Category_and_creator_caps_pass_over_items_once_full()
    {
        // Items 0-2 share category 0; 1 and 3 share creator 0; 4 has no creator.
        double[] relevance = [0.9, 0.8, 0.7, 0.6, 0.5];
        int[] creators = [1, 0, 2, 0, -1];
        int[] categoryStarts = [0, 1, 2, 3, 3, 4];
        int[] categories = [0, 0, 0, 1];
        var chosen = new int[5];

        var outcome = MaximalMarginalRelevance.Select(relevance, new float[5 * 2], 2, 1, chosen,
            new MmrCaps(creators, 1, categoryStarts, categories, 2));

        Assert.Equal([0, 1, 4], chosen[..outcome.Selected]);
        Assert.Equal(2, outcome.PassedOverByCaps);
    }

    [Fact]
    public void Preselected_items_are_not_chosen_but_count_for_similarity()
    {
        var chosen = new int[2];

        var outcome = MaximalMarginalRelevance.Select(Relevance, Embeddings, 2, 0.5, chosen, default, [1]);

        // With B already shown: A has maxSim 0.995 -> 0.45 - 0.4975 < C 0.25 < D 0.2 + 0.4975.
        Assert.Equal([3, 2], chosen[..outcome.Selected]);
    }

    [Fact]
    public void Bad_arguments_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Select(1.5, 2));
        Assert.Throws<ArgumentException>(() => Select(0.5, 2, embeddings: [1, 2, 3]));
        Assert.Throws<ArgumentException>(() => Select(0.5, 2, relevance: [0.1, double.NaN, 0.2, 0.3]));
    }

    [Fact]
    public void The_diversity_stage_reorders_by_embedding_and_applies_its_caps()
    {
        var pipeline = Pipeline(Plain(o => o.Diversity = new DiversityOptions { Lambda = 0.5, MaxPerCategory = 1 }));

        var result = Run(pipeline, 3,
            Item("a", 0.9, categories: ["x"], embedding: [1, 0]), Item("b", 0.85, categories: ["y"], embedding: [1, 0.01f]),
            Item("c", 0.8, categories: ["x"], embedding: [0, 1]), Item("d", 0.3, categories: ["z"], embedding: [0, 1]));

        // c is capped (category x); b is nearly a's twin: d (orthogonal) comes before it.
        Assert.Equal(["a", "d", "b"], Ids(result));
        Assert.Equal(1, Report(result, "diversity").Removed);
    }

    [Fact]
    public void A_category_an_item_lists_twice_counts_once_toward_its_cap()
    {
        var pipeline = Pipeline(Plain(o => o.Diversity = new DiversityOptions { Lambda = 1, MaxPerCategory = 2 }));
        // b lists more categories than the pairwise check takes, with x among them twice.
        string[] many = [.. Enumerable.Range(0, 18).Select(k => "m" + k), "x", "x"];

        var result = Run(pipeline, 3,
            Item("a", 0.9, categories: ["x", "x", "y"], embedding: [1, 0]), Item("b", 0.8, categories: many, embedding: [0, 1]),
            Item("c", 0.7, categories: ["x"], embedding: [1, 1]), Item("d", 0.6, categories: ["z", "y"], embedding: [1, -1]));

        // a and b each count x once, so x is full (2) only after b: c is passed over, d comes in.
        Assert.Equal(["a", "b", "d"], Ids(result));
        Assert.Equal(1, Report(result, "diversity").Removed);
    }

    [Fact]
    public void Mixed_embedding_dimensions_are_refused()
    {
        var pipeline = Pipeline(Plain(o => o.Diversity.Lambda = 0.5));

        Assert.Throws<ArgumentException>(() => Run(pipeline, 2, Item("a", 0.9, embedding: [1, 0]), Item("b", 0.8, embedding: [1, 0, 0])));
    }

    private static int[] BruteForce(double[] relevance, float[] embeddings, int d, double lambda, int k)
    {
        double Cosine(int a, int b)
        {
            double dot = 0, na = 0, nb = 0;
            for (var j = 0; j < d; j++)
            {
                dot += embeddings[(a * d) + j] * embeddings[(b * d) + j];
                na += embeddings[(a * d) + j] * embeddings[(a * d) + j];
                nb += embeddings[(b * d) + j] * embeddings[(b * d) + j];
            }

            return dot / Math.Sqrt(na * nb);
        }

        var chosen = new List<int>();
        while (chosen.Count < k)
        {
            var best = Enumerable.Range(0, relevance.Length).Where(i => !chosen.Contains(i))
                .Select(i => (Item: i, Score: (lambda * relevance[i]) - ((1 - lambda) * (chosen.Count == 0 ? 0 : chosen.Max(c => Cosine(i, c))))))
                .OrderByDescending(x => x.Score).ThenByDescending(x => relevance[x.Item]).First();
            chosen.Add(best.Item);
        }

        return [.. chosen];
    }
}
