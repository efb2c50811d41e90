using RecSys.Learning.Als;
using RecSys.Learning.Evaluation;
using RecSys.Learning.Kernels;

namespace RecSys.Learning.Tests;

public sealed class EvaluationTests
{
    [Fact]
    public void Metrics_match_hand_computed_values()
    {
        int[] ranked = [5, 1, 7, 3];
        int[] relevant = [1, 3, 9];

        var at1 = RankingMetrics.At(ranked, relevant, 1);
        Assert.Equal(0, at1.Ndcg);
        Assert.Equal(0, at1.HitRate);

        // Hit at rank 2: DCG = 1/log2(3) = 0.63093, IDCG@2 = 1 + 0.63093.
        var at2 = RankingMetrics.At(ranked, relevant, 2);
        Assert.Equal(0.386853, at2.Ndcg, 1e-6);
        Assert.Equal(0.5, at2.Precision, 1e-12);
        Assert.Equal(1.0 / 3, at2.Recall, 1e-12);
        Assert.Equal(0.25, at2.Map, 1e-12); // (1/2) / min(3, 2)
        Assert.Equal(1, at2.HitRate);

        // Hits at ranks 2 and 4: DCG = 0.63093 + 0.43068, IDCG@4 = 1 + 0.63093 + 0.5.
        var at4 = RankingMetrics.At(ranked, relevant, 4);
        Assert.Equal(0.498189, at4.Ndcg, 1e-6);
        Assert.Equal(0.5, at4.Precision, 1e-12);
        Assert.Equal(2.0 / 3, at4.Recall, 1e-12);
        Assert.Equal(1.0 / 3, at4.Map, 1e-12); // (1/2 + 2/4) / 3

        // Past the end of a short list, precision keeps dividing by k.
        var at6 = RankingMetrics.At(ranked, relevant, 6);
        Assert.Equal(2.0 / 6, at6.Precision, 1e-12);

        var perfect = RankingMetrics.At([1, 3, 9], relevant, 3);
        Assert.Equal(1, perfect.Ndcg, 1e-12);
        Assert.Equal(1, perfect.Map, 1e-12);
        Assert.Equal(1, perfect.Recall, 1e-12);
    }

    [Fact]
    public void Temporal_split_holds_out_each_users_latest_fifth()
    {
        var interactions = new List<Interaction>();
        for (var t = 0; t < 10; t++)
        {
            // User 0: item t at time 100 - t, so the earliest times belong to the highest items.
            interactions.Add(new Interaction(0, t, 1f, 100 - t));
        }

        interactions.Add(new Interaction(1, 3, 1f, 5));
        var split = DataSplit.Temporal(interactions, userCount: 2, itemCount: 10);

        Assert.Equal([0, 1], split.Test[0]); // the two latest: times 100 and 99
        Assert.Empty(split.Test[1]); // a single interaction stays in training
        Assert.Equal(8, split.Train.UserItems.RowLength(0));
        Assert.Equal(1, split.Train.UserItems.RowLength(1));
        Assert.Equal(2, split.TestInteractions);
        Assert.Throws<ArgumentException>(() => DataSplit.Temporal(interactions, 2, 10, holdoutFraction: 1.5));
        Assert.Throws<ArgumentException>(() => DataSplit.Temporal([new Interaction(5, 0, 1, 0)], 2, 10));
    }

    [Fact]
    public void Random_split_is_reproducible_for_a_seed_and_keeps_sizes()
    {
        var world = new PlantedWorld(50, 100, 5, 20, 0.8, seed: 1);
        var interactions = Enumerable.Range(0, world.UserIndices.Length)
            .Select(e => new Interaction(world.UserIndices[e], world.ItemIndices[e], 1f, world.Timestamps[e])).ToList();

        var a = DataSplit.Random(interactions, 50, 100, seed: 9);
        var b = DataSplit.Random(interactions, 50, 100, seed: 9);
        var c = DataSplit.Random(interactions, 50, 100, seed: 10);

        Assert.Equal(a.Test, b.Test);
        Assert.NotEqual(a.Test, c.Test);
        Assert.Equal(a.Train.UserItems.ColumnIndices, b.Train.UserItems.ColumnIndices);
        for (var u = 0; u < 50; u++)
        {
            Assert.InRange(a.Test[u].Length, 0, 4); // 4 held out of 20, fewer when they repeat training items
            Assert.All(a.Test[u], item => Assert.False(a.Train.UserItems.Contains(u, item)));
        }

        Assert.InRange(a.TestInteractions, 100, 200);
    }

    [Fact]
    public void Block_sweep_inverse_matches_identity_product()
    {
        const int N = 150; // three pivot blocks, the last one partial
        var rng = new Random(2);
        var x = Enumerable.Range(0, 200 * N).Select(_ => rng.NextDouble() < 0.1 ? 1.0 : 0.0).ToArray();
        var g = new double[N * N];
        for (var r = 0; r < 200; r++)
        {
            for (var i = 0; i < N; i++)
            {
                for (var j = 0; j < N; j++)
                {
                    g[(i * N) + j] += x[(r * N) + i] * x[(r * N) + j];
                }
            }
        }

        for (var i = 0; i < N; i++)
        {
            g[(i * N) + i] += 5;
        }

        var inverse = (double[])g.Clone();
        SymmetricInverse.InvertInPlace(inverse, N);

        for (var i = 0; i < N; i++)
        {
            for (var j = 0; j < N; j++)
            {
                var s = 0.0;
                for (var k = 0; k < N; k++)
                {
                    s += g[(i * N) + k] * inverse[(k * N) + j];
                }

                Assert.Equal(i == j ? 1.0 : 0.0, s, 1e-9);
            }
        }
    }

    [Fact]
    public void On_a_planted_world_als_ease_and_item_knn_beat_most_popular()
    {
        var world = new PlantedWorld(users: 600, items: 300, clusters: 10, interactionsPerUser: 20, inClusterShare: 0.85, seed: 4);
        var interactions = Enumerable.Range(0, world.UserIndices.Length)
            .Select(e => new Interaction(world.UserIndices[e], world.ItemIndices[e], 1f, world.Timestamps[e])).ToList();
        var split = DataSplit.Temporal(interactions, world.Users, world.Items);
        var options = new AlsOptions { Dimension = 16, Epochs = 8, Alpha = 5f, Regularization = 0.1f, Seed = 5 };

        var report = Evaluator.Run("planted", split,
        [
            () => new MostPopularRecommender(split.Train),
            () => new FactorRecommender(new AlsTrainer(options).Train(split.Train), split.Train),
            () => new ItemKnnRecommender(split.Train, neighbours: 50),
            () => new EaseRecommender(split.Train, lambda: 50f, maxItems: 200),
        ]);

        var popular = report.Recommenders[0].At(10).Ndcg;
        foreach (var score in report.Recommenders.Skip(1))
        {
            Assert.True(score.At(10).Ndcg > 1.5 * popular, $"{score.Name} nDCG@10 {score.At(10).Ndcg:F4} vs most-popular {popular:F4}");
        }

        Assert.InRange(report.Users, 550, 600); // users whose held-out items all repeat training ones are not scored
        Assert.Equal(50, report.Recommenders[0].Curve.Count);
        Assert.True(report.Recommenders[1].At(10).Coverage > report.Recommenders[0].At(10).Coverage);
        Assert.True(report.Recommenders[1].At(20).Recall >= report.Recommenders[1].At(10).Recall);

        var roundTrip = EvaluationReport.FromJson(report.ToJson());
        Assert.Equal(report.Recommenders[1].At(10), roundTrip.Recommenders[1].At(10));
        var markdown = report.ToMarkdown();
        Assert.Contains("| als |", markdown);
        Assert.Contains("nDCG@20", markdown);
    }
}
