namespace RecSys.VectorSearch.Tests;

public class KernelTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(16)]
    [InlineData(31)]
    [InlineData(64)]
    [InlineData(100)]
    [InlineData(128)]
    [InlineData(256)]
    [InlineData(1001)]
    public void All_kernels_agree_with_scalar(int dim)
    {
        var rng = new Random(dim);
        for (var trial = 0; trial < 20; trial++)
        {
            var a = new float[dim];
            var b = new float[dim];
            for (var i = 0; i < dim; i++)
            {
                a[i] = (float)TestData.Normal(rng);
                b[i] = (float)TestData.Normal(rng);
            }
            double exact = 0;
            for (var i = 0; i < dim; i++) exact += (double)a[i] * b[i];
            foreach (var kind in VectorKernels.Supported)
            {
                var got = VectorKernels.Dot(a, b, kind);
                Assert.True(Math.Abs(got - exact) <= 1e-4 * Math.Sqrt(dim) + 1e-5 * Math.Abs(exact), $"{kind} dim {dim}: {got} vs {exact}");
            }
            Assert.Equal(VectorKernels.Dot(a, b, VectorKernels.Active), VectorKernels.Dot(a, b));
        }
    }

    [Fact]
    public void The_16_wide_kernel_gives_the_active_kernels_bits()
    {
        var rng = new Random(16);
        var a = new float[16];
        var b = new float[16];
        for (var trial = 0; trial < 2000; trial++)
        {
            for (var i = 0; i < 16; i++)
            {
                // Some exact zeros of either sign and cancelling pairs, where the order of operations would show.
                a[i] = trial % 7 == 0 && i % 3 == 0 ? (i % 2 == 0 ? -0f : 0f) : (float)TestData.Normal(rng);
                b[i] = trial % 5 == 0 && i >= 8 ? -a[i - 8] * (i % 2 == 0 ? 1 : -1) : (float)TestData.Normal(rng);
            }

            var expected = VectorKernels.Dot(a, b);
            var got = VectorKernels.Dot16(ref a[0], ref b[0]);
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(got));
        }

        Array.Clear(a);
        Array.Fill(b, -1f);
        Assert.Equal(BitConverter.SingleToInt32Bits(VectorKernels.Dot(a, b)), BitConverter.SingleToInt32Bits(VectorKernels.Dot16(ref a[0], ref b[0])));
    }

    [Fact]
    public void Active_kernel_is_supported() => Assert.Contains(VectorKernels.Active, VectorKernels.Supported);

    [Fact]
    public void Normalize_gives_unit_norm_and_leaves_zero_alone()
    {
        var v = new float[] { 3, 4, 0, 0, 0 };
        VectorKernels.Normalize(v);
        Assert.Equal(1f, VectorKernels.Dot(v, v), 5);
        var z = new float[8];
        VectorKernels.Normalize(z);
        Assert.All(z, x => Assert.Equal(0f, x));
    }
}
