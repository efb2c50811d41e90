using RecSys.Learning.Als;

namespace RecSys.Learning.Tests;

public sealed class AlsTests
{
    private static readonly PlantedWorld World = new(users: 400, items: 200, clusters: 8, interactionsPerUser: 15, inClusterShare: 0.85, seed: 3);

    private static AlsOptions Options(int threads = -1, int epochs = 8) => new()
    {
        Dimension = 16,
        Epochs = epochs,
        Regularization = 0.1f,
        Alpha = 5f,
        ConjugateGradientSteps = 3,
        Seed = 11,
        MaxDegreeOfParallelism = threads,
    };

    [Fact]
    public void Conjugate_gradient_row_solve_reaches_the_exact_normal_equation_solution()
    {
        const int D = 6;
        var rng = new Random(5);
        var other = Enumerable.Range(0, 10 * D).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        int[] columns = [1, 4, 7];
        float[] strengths = [1f, 3f, 0.5f];
        var options = new AlsOptions { Dimension = D, Regularization = 0.3f, Alpha = 2f, ConjugateGradientSteps = 2 * D };
        var trainer = new AlsTrainer(options);
        var gram = new float[D * D];
        trainer.ComputeGram(other, 10, gram);

        // Reference: A = G + sum (c - 1) y y^T, b = sum c y, solved by Gaussian elimination in double.
        var a = new double[D, D + 1];
        for (var i = 0; i < D; i++)
        {
            for (var j = 0; j < D; j++)
            {
                a[i, j] = gram[(i * D) + j];
            }
        }

        for (var k = 0; k < columns.Length; k++)
        {
            var c = 1.0 + (2.0 * strengths[k]);
            for (var i = 0; i < D; i++)
            {
                var yi = other[(columns[k] * D) + i];
                a[i, D] += c * yi;
                for (var j = 0; j < D; j++)
                {
                    a[i, j] += (c - 1) * yi * other[(columns[k] * D) + j];
                }
            }
        }

        var exact = SolveDense(a, D);
        var x = new float[D];
        trainer.SolveRow(columns, strengths, other, gram, x, new AlsTrainer.CgScratch(D));

        for (var i = 0; i < D; i++)
        {
            Assert.Equal(exact[i], x[i], 3);
        }
    }

    [Fact]
    public void Training_is_bit_for_bit_identical_with_one_and_two_threads()
    {
        var matrix = World.Matrix();
        var one = new AlsTrainer(Options(threads: 1, epochs: 3)).Train(matrix);
        var two = new AlsTrainer(Options(threads: 2, epochs: 3)).Train(matrix);

        Assert.Equal(one.UserFactors, two.UserFactors);
        Assert.Equal(one.ItemFactors, two.ItemFactors);
    }

    [Fact]
    public void Loss_decreases_and_progress_is_reported_every_epoch()
    {
        var reports = new List<AlsEpochReport>();
        new AlsTrainer(Options(epochs: 5) with { ComputeLoss = true }).Train(World.Matrix(), reports.Add);

        Assert.Equal([1, 2, 3, 4, 5], reports.Select(r => r.Epoch));
        Assert.All(reports, r => Assert.True(r.Loss is > 0));
        Assert.True(reports[^1].Loss < reports[0].Loss, $"loss {reports[0].Loss} -> {reports[^1].Loss}");
    }

    [Fact]
    public void Learned_item_neighbours_recover_planted_clusters()
    {
        var model = new AlsTrainer(Options()).Train(World.Matrix());

        // Chance that a random other item shares the cluster is ~1/8; the learned top-10 should be mostly same-cluster.
        var same = 0;
        var total = 0;
        for (var item = 0; item < World.Items; item++)
        {
            foreach (var neighbour in model.SimilarItems(item, 10))
            {
                total++;
                same += World.ItemCluster(neighbour.Item) == World.ItemCluster(item) ? 1 : 0;
            }
        }

        var precision = (double)same / total;
        Assert.True(precision > 0.6, $"same-cluster share of neighbours {precision:F3} (chance 0.125)");
    }

    [Fact]
    public void Recommendations_exclude_seen_items_and_favour_the_users_cluster()
    {
        var matrix = World.Matrix();
        var model = new AlsTrainer(Options()).Train(matrix);
        var inCluster = 0;
        for (var u = 0; u < World.Users; u++)
        {
            var recommended = model.Recommend(u, 5, matrix.UserItems);
            Assert.Equal(5, recommended.Length);
            Assert.All(recommended, r => Assert.False(matrix.UserItems.Contains(u, r.Item)));
            Assert.True(recommended[0].Score >= recommended[^1].Score);
            inCluster += recommended.Count(r => World.ItemCluster(r.Item) == World.UserCluster(u));
        }

        Assert.True(inCluster > 0.7 * World.Users * 5, $"{inCluster} of {World.Users * 5} recommendations in the user's cluster");
    }

    [Fact]
    public void Checkpoint_round_trips_and_resuming_matches_an_uninterrupted_run()
    {
        var matrix = World.Matrix();
        var directory = Directory.CreateTempSubdirectory("als-ckpt");
        try
        {
            var path = Path.Combine(directory.FullName, "als.ckpt");
            var straight = new AlsTrainer(Options(epochs: 4)).Train(matrix);

            new AlsTrainer(Options(epochs: 2)).Train(matrix, checkpointPath: path);
            var checkpoint = AlsCheckpoint.Load(path);
            Assert.Equal(2, checkpoint.EpochsCompleted);
            Assert.Equal(11UL, checkpoint.Seed);
            var resumedEpochs = new List<int>();
            var resumed = new AlsTrainer(Options(epochs: 4)).Train(matrix, r => resumedEpochs.Add(r.Epoch), resume: checkpoint);

            Assert.Equal([3, 4], resumedEpochs);
            Assert.Equal(straight.UserFactors, resumed.UserFactors);
            Assert.Equal(straight.ItemFactors, resumed.ItemFactors);

            // A flipped byte is caught by the checksum.
            var bytes = File.ReadAllBytes(path);
            bytes[100] ^= 0x40;
            File.WriteAllBytes(path, bytes);
            Assert.Throws<InvalidDataException>(() => AlsCheckpoint.Load(path));

            Assert.Throws<ArgumentException>(() => new AlsTrainer(Options() with { Dimension = 8 }).Train(matrix, resume: checkpoint));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void Aligning_to_a_reference_undoes_a_rotation_and_keeps_every_score()
    {
        var reference = new AlsTrainer(Options()).Train(World.Matrix());
        var d = reference.Dimension;

        // A random orthogonal matrix (Gram-Schmidt of a random one) applied to a copy of the reference.
        var rng = new Random(4);
        var q = new double[d][];
        for (var k = 0; k < d; k++)
        {
            q[k] = [.. Enumerable.Range(0, d).Select(_ => rng.NextDouble() - 0.5)];
            for (var j = 0; j < k; j++)
            {
                var dot = q[k].Zip(q[j], (a, b) => a * b).Sum();
                for (var i = 0; i < d; i++)
                {
                    q[k][i] -= dot * q[j][i];
                }
            }

            var norm = Math.Sqrt(q[k].Sum(x => x * x));
            q[k] = [.. q[k].Select(x => x / norm)];
        }

        float[] Rotated(float[] factors) => [.. Enumerable.Range(0, factors.Length).Select(n =>
            (float)Enumerable.Range(0, d).Sum(a => factors[(n / d * d) + a] * q[n % d][a]))];
        var moved = new FactorModel(reference.UserCount, reference.ItemCount, d, Rotated(reference.UserFactors), Rotated(reference.ItemFactors));
        Assert.True(Math.Abs(moved.ItemFactors[0] - reference.ItemFactors[0]) > 1e-3 || Math.Abs(moved.ItemFactors[1] - reference.ItemFactors[1]) > 1e-3);

        moved.AlignTo(reference, Enumerable.Range(0, reference.ItemCount));

        var scale = reference.ItemFactors.Max(Math.Abs);
        for (var n = 0; n < reference.ItemFactors.Length; n++)
        {
            Assert.Equal(reference.ItemFactors[n], moved.ItemFactors[n], 1e-4 * scale);
        }

        var scoreScale = Enumerable.Range(0, reference.ItemCount).Max(i => Math.Abs(reference.Score(0, i)));
        for (var i = 0; i < reference.ItemCount; i++)
        {
            Assert.Equal(reference.Score(3, i), moved.Score(3, i), 1e-4 * scoreScale);
        }

        Assert.Throws<ArgumentException>(() => moved.AlignTo(new AlsTrainer(Options() with { Dimension = 8 }).Train(World.Matrix()), [0]));
    }

    [Fact]
    public void Fits_from_different_random_starts_agree_coordinate_by_coordinate_once_aligned()
    {
        var matrix = World.Matrix();
        var a = new AlsTrainer(Options(epochs: 10) with { Seed = 1 }).Train(matrix);
        var b = new AlsTrainer(Options(epochs: 10) with { Seed = 2 }).Train(matrix);
        double MeanAxisCosine()
        {
            var total = 0.0;
            for (var k = 0; k < a.Dimension; k++)
            {
                double dot = 0, na = 0, nb = 0;
                for (var i = 0; i < a.ItemCount; i++)
                {
                    dot += (double)a.Item(i)[k] * b.Item(i)[k];
                    na += (double)a.Item(i)[k] * a.Item(i)[k];
                    nb += (double)b.Item(i)[k] * b.Item(i)[k];
                }

                total += dot / Math.Sqrt(na * nb);
            }

            return total / a.Dimension;
        }

        var before = MeanAxisCosine();
        b.AlignTo(a, Enumerable.Range(0, a.ItemCount));
        var after = MeanAxisCosine();
        Assert.True(after > 0.6 && after > before + 0.3, $"mean per-coordinate cosine of the item factors across seeds: {before:F3} raw, {after:F3} aligned");
    }

    [Fact]
    public void Invalid_options_are_rejected_before_training()
    {
        Assert.Throws<ArgumentException>(() => new AlsTrainer(new AlsOptions { Dimension = 0 }));
        Assert.Throws<ArgumentException>(() => new AlsTrainer(new AlsOptions { Regularization = 0 }));
        Assert.Throws<ArgumentException>(() => new AlsTrainer(new AlsOptions { ConjugateGradientSteps = 0 }));
        Assert.Throws<ArgumentException>(() => new AlsTrainer(new AlsOptions { MaxDegreeOfParallelism = 0 }));
    }

    private static double[] SolveDense(double[,] a, int n)
    {
        for (var col = 0; col < n; col++)
        {
            var pivot = col;
            for (var r = col + 1; r < n; r++)
            {
                if (Math.Abs(a[r, col]) > Math.Abs(a[pivot, col]))
                {
                    pivot = r;
                }
            }

            for (var j = 0; j <= n; j++)
            {
                (a[col, j], a[pivot, j]) = (a[pivot, j], a[col, j]);
            }

            for (var r = 0; r < n; r++)
            {
                if (r == col)
                {
                    continue;
                }

                var f = a[r, col] / a[col, col];
                for (var j = col; j <= n; j++)
                {
                    a[r, j] -= f * a[col, j];
                }
            }
        }

        var x = new double[n];
        for (var i = 0; i < n; i++)
        {
            x[i] = a[i, n] / a[i, i];
        }

        return x;
    }
}
