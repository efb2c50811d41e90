using RecSys.Learning.Als;
using RecSys.Learning.Content;
using RecSys.Learning.Interactions;

namespace RecSys.Learning.Tests.Content;

public sealed class ContentEmbeddingTests
{
    private const int Clusters = 10;

    /// <summary>
    /// Items of planted topics: item i belongs to topic i % 10, has that topic's category (30 % of items one more, at
    /// random), two of the topic's four tags plus a random tag of all 40, and a title of one topic word and two filler
    /// words. Collaborative factors: the topic's centroid plus noise, as ALS would learn for items liked by the same users.
    /// </summary>
    private static (List<ItemContent> Items, float[] Factors, int Dimension) PlantedCatalogue(int items, ulong seed)
    {
        var random = new Random((int)seed);
        const int d = 16;
        var centroids = Enumerable.Range(0, Clusters * d).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();
        var filler = Enumerable.Range(0, 200).Select(w => $"filler{w}").ToArray();
        var list = new List<ItemContent>();
        var factors = new float[items * d];
        for (var i = 0; i < items; i++)
        {
            var topic = i % Clusters;
            var categories = new List<string> { $"category{topic}" };
            if (random.NextDouble() < 0.3)
            {
                categories.Add($"category{random.Next(Clusters)}");
            }

            var tags = new List<string> { $"tag{topic}-{random.Next(4)}", $"tag{topic}-{random.Next(4)}", $"tag{random.Next(Clusters)}-{random.Next(4)}" };
            var title = $"The {filler[random.Next(filler.Length)]} of topicword{topic}{random.Next(3)} and {filler[random.Next(filler.Length)]}";
            list.Add(new ItemContent(categories, tags, title));
            for (var k = 0; k < d; k++)
            {
                factors[(i * d) + k] = centroids[(topic * d) + k] + (float)(0.4 * ((random.NextDouble() * 2) - 1));
            }
        }

        return (list, factors, d);
    }

    private static float Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double dot = 0, na = 0, nb = 0;
        for (var k = 0; k < a.Length; k++)
        {
            dot += a[k] * b[k];
            na += a[k] * a[k];
            nb += b[k] * b[k];
        }

        return na == 0 || nb == 0 ? 0 : (float)(dot / Math.Sqrt(na * nb));
    }

    /// <summary>Share of each query's k nearest candidates (by cosine) that have the query's topic.</summary>
    private static double TopicAgreement(float[] queries, int[] queryItems, float[] candidates, int[] candidateItems, int d, int k)
    {
        var agree = 0;
        for (var q = 0; q < queryItems.Length; q++)
        {
            var offset = q * d;
            var nearest = Enumerable.Range(0, candidateItems.Length)
                .Select(c => (c, Score: Cosine(queries.AsSpan(offset, d), candidates.AsSpan(c * d, d))))
                .OrderByDescending(x => x.Score)
                .Take(k);
            agree += nearest.Count(x => candidateItems[x.c] % Clusters == queryItems[q] % Clusters);
        }

        return (double)agree / (queryItems.Length * k);
    }

    [Fact]
    public void Cold_items_projected_into_the_collaborative_space_land_near_warm_items_of_their_topic()
    {
        var (items, factors, d) = PlantedCatalogue(1_000, seed: 3);
        var content = ContentModel.Fit(items, new ContentOptions { Dimension = 24, Seed = 7, TfIdf = new TfIdfOptions { Buckets = 4_096 } });
        var embeddings = content.Embed(items);

        // Every seventh item is cold (it has content but no factors); 7 and 10 are coprime, so every topic has both.
        var cold = Enumerable.Range(0, items.Count).Where(i => i % 7 == 3).ToArray();
        var warm = Enumerable.Range(0, items.Count).Where(i => i % 7 != 3).ToArray();
        var warmFactors = warm.SelectMany(i => factors.AsSpan(i * d, d).ToArray()).ToArray();
        var model = new FactorModel(0, warm.Length, d, [], warmFactors);
        var projected = ColdStart.ProjectColdItems(embeddings, content.Dimension, warm, model, cold, lambda: 1f);

        var agreement = TopicAgreement(projected, cold, warmFactors, warm, d, k: 10);
        var contentAgreement = TopicAgreement(
            cold.SelectMany(i => embeddings.AsSpan(i * content.Dimension, content.Dimension).ToArray()).ToArray(), cold,
            warm.SelectMany(i => embeddings.AsSpan(i * content.Dimension, content.Dimension).ToArray()).ToArray(), warm, content.Dimension, k: 10);

        // Chance is 1 in 10.
        Assert.True(agreement > 0.7, $"collaborative-space neighbours share the topic {agreement:P1} of the time");
        Assert.True(contentAgreement > 0.7, $"content-space neighbours share the topic {contentAgreement:P1} of the time");
    }

    [Fact]
    public void Embeddings_are_unit_length_and_identical_for_a_seed()
    {
        var (items, _, _) = PlantedCatalogue(300, seed: 5);
        var options = new ContentOptions { Dimension = 16, Seed = 11, TfIdf = new TfIdfOptions { Buckets = 2_048 } };
        var first = ContentModel.Fit(items, options).Embed(items);
        var second = ContentModel.Fit(items, options).Embed(items);
        var otherSeed = ContentModel.Fit(items, options with { Seed = 12 }).Embed(items);

        Assert.Equal(first, second);
        Assert.Equal(300 * 16, first.Length);
        for (var r = 0; r < 300; r++)
        {
            var norm = Math.Sqrt(first.AsSpan(r * 16, 16).ToArray().Sum(x => (double)x * x));
            Assert.Equal(1.0, norm, 3);
        }

        // A new seed draws another sketch; the subspace may match but the numbers should not all agree.
        Assert.NotEqual(first, otherSeed);
    }

    [Fact]
    public void A_full_rank_decomposition_reconstructs_the_matrix()
    {
        // 40 x 6, rank 6: A V V^T = A exactly when V spans the row space.
        var random = new Random(9);
        var rows = new int[240];
        var columns = new int[240];
        var values = new float[240];
        for (var e = 0; e < 240; e++)
        {
            rows[e] = e / 6;
            columns[e] = e % 6;
            values[e] = random.NextDouble() < 0.5 ? 0.5f + (float)random.NextDouble() : 0f;
        }

        var a = InteractionMatrix.Build(40, 6, rows, columns, values).UserItems;
        var svd = RandomizedSvd.Fit(a, rank: 6, seed: 1, oversampling: 0, powerIterations: 1);
        var projected = svd.Transform(a);

        for (var t = 1; t < svd.Rank; t++)
        {
            Assert.True(svd.SingularValues[t - 1] >= svd.SingularValues[t]);
        }

        for (var r = 0; r < 40; r++)
        {
            for (var c = 0; c < 6; c++)
            {
                var reconstructed = 0.0;
                for (var t = 0; t < svd.Rank; t++)
                {
                    reconstructed += projected[(r * svd.Rank) + t] * svd.Components[(c * svd.Rank) + t];
                }

                var expected = a.Contains(r, c) ? a.RowValues(r)[a.RowColumns(r).BinarySearch(c)] : 0f;
                Assert.Equal(expected, reconstructed, 3);
            }
        }
    }

    [Fact]
    public void Title_words_are_runs_of_letters_and_digits()
    {
        Assert.Equal(["Toy", "Story", "1995"], HashedTfIdf.Words("Toy Story (1995)"));
        Assert.Empty(HashedTfIdf.Words(null));
        Assert.Equal(["ab"], HashedTfIdf.Words("a ab b"));
    }

    [Fact]
    public void Bad_options_are_refused()
    {
        var items = new List<ItemContent> { new(["a"], [], null) };
        Assert.Throws<ArgumentException>(() => ContentModel.Fit(items, new ContentOptions { Dimension = 0 }));
        Assert.Throws<ArgumentException>(() => ContentModel.Fit(items, new ContentOptions { TfIdf = new TfIdfOptions { Buckets = 1 } }));
        Assert.Throws<ArgumentException>(() => ContentModel.Fit([], new ContentOptions()));
        Assert.Throws<ArgumentException>(() => ContentProjection.Fit([1f], 1, [1f, 2f], 1, 1f));
    }
}
