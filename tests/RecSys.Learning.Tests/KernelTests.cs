using RecSys.Learning.Kernels;

namespace RecSys.Learning.Tests;

public sealed class KernelTests
{
    public static TheoryData<int> Lengths => [1, 7, 16, 33, 64, 100, 128];

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Every_available_width_matches_a_double_reference(int n)
    {
        var rng = new Random(n);
        var a = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var b = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var dot = 0.0;
        for (var i = 0; i < n; i++)
        {
            dot += (double)a[i] * b[i];
        }

        foreach (var width in KernelDispatch.Available)
        {
            Assert.Equal(dot, VectorKernels.Dot(a, b, width), 1e-4);
            var y = (float[])b.Clone();
            VectorKernels.Axpy(0.5f, a, y, width);
            for (var i = 0; i < n; i++)
            {
                Assert.Equal(b[i] + (0.5 * a[i]), y[i], 1e-5);
            }
        }
    }

    [Theory]
    [InlineData(5, 3)]
    [InlineData(16, 21)]
    [InlineData(40, 9)]
    [InlineData(64, 70)]
    [InlineData(72, 17)]
    public void Gram_and_symmetric_product_match_a_reference_at_every_width(int d, int rows)
    {
        var rng = new Random(d * rows);
        var y = Enumerable.Range(0, d * rows).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var x = Enumerable.Range(0, d).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var expected = new double[d * d];
        for (var r = 0; r < rows; r++)
        {
            for (var a = 0; a < d; a++)
            {
                for (var j = 0; j < d; j++)
                {
                    expected[(a * d) + j] += (double)y[(r * d) + a] * y[(r * d) + j];
                }
            }
        }

        foreach (var width in KernelDispatch.Available)
        {
            var gram = new float[d * d];
            VectorKernels.GramAccumulate(y, d, gram, width);
            for (var a = 0; a < d; a++)
            {
                for (var j = a; j < d; j++)
                {
                    Assert.Equal(expected[(a * d) + j], gram[(a * d) + j], 1e-4);
                }
            }

            // Mirror, then check G x.
            for (var a = 0; a < d; a++)
            {
                for (var j = 0; j < a; j++)
                {
                    gram[(a * d) + j] = gram[(j * d) + a];
                }
            }

            var product = new float[d];
            VectorKernels.SymmetricMatVec(gram, x, product, width);
            for (var a = 0; a < d; a++)
            {
                var s = 0.0;
                for (var j = 0; j < d; j++)
                {
                    s += expected[(a * d) + j] * x[j];
                }

                Assert.Equal(s, product[a], 1e-3);
            }
        }
    }

    [Fact]
    public void TopK_keeps_the_best_in_order_and_breaks_ties_by_id()
    {
        var top = new TopK(3);
        float[] scores = [0.5f, 2f, 1f, 2f, -1f, 1.5f];
        for (var i = 0; i < scores.Length; i++)
        {
            top.Add(i, scores[i]);
        }

        var ids = new int[3];
        var best = new float[3];
        Assert.Equal(3, top.Drain(ids, best));
        Assert.Equal([1, 3, 5], ids);
        Assert.Equal([2f, 2f, 1.5f], best);
    }

    [Theory]
    [InlineData(16, 0)]
    [InlineData(16, 1)]
    [InlineData(7, 5)]
    [InlineData(24, 3)]
    [InlineData(64, 2)]
    [InlineData(64, 37)]
    [InlineData(100, 11)]
    [InlineData(256, 20)]
    public void The_two_pass_sparse_projection_matches_a_reference_and_the_one_pass_form_at_every_width(int d, int nonzeros)
    {
        const int otherRows = 50;
        const float alpha = 2.5f;
        var rng = new Random((d * 100) + nonzeros);
        var other = Enumerable.Range(0, otherRows * d).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var v = Enumerable.Range(0, d).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var start = Enumerable.Range(0, d).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var columns = Enumerable.Range(0, nonzeros).Select(_ => rng.Next(otherRows)).ToArray();
        var strengths = Enumerable.Range(0, nonzeros).Select(_ => (float)(rng.NextDouble() * 4)).ToArray();

        foreach (var residual in new[] { false, true })
        {
            var expected = start.Select(x => (double)x).ToArray();
            for (var k = 0; k < nonzeros; k++)
            {
                var s = 0.0;
                for (var j = 0; j < d; j++)
                {
                    s += (double)other[(columns[k] * d) + j] * v[j];
                }

                var c = 1.0 + (alpha * strengths[k]);
                var coefficient = residual ? c - ((c - 1) * s) : (c - 1) * s;
                for (var j = 0; j < d; j++)
                {
                    expected[j] += coefficient * other[(columns[k] * d) + j];
                }
            }

            foreach (var width in KernelDispatch.Available)
            {
                var twoPass = (float[])start.Clone();
                VectorKernels.SparseProjectionTwoPass(columns, strengths, alpha, other, v, twoPass, residual, width, new float[nonzeros + 3]);
                var onePass = (float[])start.Clone();
                VectorKernels.SparseProjection(columns, strengths, alpha, other, v, onePass, residual, width);
                for (var j = 0; j < d; j++)
                {
                    Assert.Equal(expected[j], twoPass[j], 1e-3);
                    Assert.Equal(onePass[j], twoPass[j], 1e-3);
                }
            }
        }
    }

    [Fact]
    public void The_two_pass_sparse_projection_refuses_a_column_outside_the_other_side()
    {
        var other = new float[4 * 16];
        var acc = new float[16];
        Assert.ThrowsAny<ArgumentException>(() =>
            VectorKernels.SparseProjectionTwoPass([1, 4], [1f, 1f], 1f, other, new float[16], acc, residual: false, KernelDispatch.Best, new float[2]));
    }
}
