using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace RecSys.Learning.Bench;

/// <summary>
/// The GEMM peak this machine reaches from C#: C += A B (row-major floats) with B packed into K-blocks of panels
/// two vectors wide, and a 6 x (2 vectors) register-blocked micro-kernel (12 accumulators), rows spread over threads.
/// It is the yardstick for the ALS kernels, not a general GEMM: M must be a multiple of 6 and N of two vector widths.
/// </summary>
internal static class Sgemm
{
    private const int KBlock = 256;
    private const int Rows = 6;

    public static int Width => Vector512.IsHardwareAccelerated ? 16 : 8;

    public static void Multiply(float[] a, float[] b, float[] c, int m, int n, int k, int threads)
    {
        var panel = 2 * Width;
        if (m % Rows != 0 || n % panel != 0)
        {
            throw new ArgumentException($"M must be a multiple of {Rows} and N of {panel}.");
        }

        var packed = new float[KBlock * n];
        for (var k0 = 0; k0 < k; k0 += KBlock)
        {
            var kc = Math.Min(KBlock, k - k0);
            // Panel p holds rows k0..k0+kc of columns p*panel..(p+1)*panel, contiguous.
            for (var p = 0; p < n / panel; p++)
            {
                for (var kk = 0; kk < kc; kk++)
                {
                    Array.Copy(b, ((k0 + kk) * n) + (p * panel), packed, (p * kc * panel) + (kk * panel), panel);
                }
            }

            Parallel.For(0, m / Rows, new ParallelOptions { MaxDegreeOfParallelism = threads }, rb =>
            {
                for (var p = 0; p < n / panel; p++)
                {
                    if (Width == 16)
                    {
                        Kernel512(a, packed.AsSpan(p * kc * panel, kc * panel), c, rb * Rows, p * panel, k0, kc, n, k);
                    }
                    else
                    {
                        Kernel256(a, packed.AsSpan(p * kc * panel, kc * panel), c, rb * Rows, p * panel, k0, kc, n, k);
                    }
                }
            });
        }
    }

    private static void Kernel512(float[] a, ReadOnlySpan<float> panel, float[] c, int i0, int j0, int k0, int kc, int n, int k)
    {
        ref var rc = ref MemoryMarshal.GetArrayDataReference(c);
        ref var ra = ref MemoryMarshal.GetArrayDataReference(a);
        ref var rp = ref MemoryMarshal.GetReference(panel);
        var c0 = (nuint)((i0 * n) + j0);
        var s = (nuint)n;
        var c00 = Vector512.LoadUnsafe(ref rc, c0); var c01 = Vector512.LoadUnsafe(ref rc, c0 + 16);
        var c10 = Vector512.LoadUnsafe(ref rc, c0 + s); var c11 = Vector512.LoadUnsafe(ref rc, c0 + s + 16);
        var c20 = Vector512.LoadUnsafe(ref rc, c0 + (2 * s)); var c21 = Vector512.LoadUnsafe(ref rc, c0 + (2 * s) + 16);
        var c30 = Vector512.LoadUnsafe(ref rc, c0 + (3 * s)); var c31 = Vector512.LoadUnsafe(ref rc, c0 + (3 * s) + 16);
        var c40 = Vector512.LoadUnsafe(ref rc, c0 + (4 * s)); var c41 = Vector512.LoadUnsafe(ref rc, c0 + (4 * s) + 16);
        var c50 = Vector512.LoadUnsafe(ref rc, c0 + (5 * s)); var c51 = Vector512.LoadUnsafe(ref rc, c0 + (5 * s) + 16);
        ref var a0 = ref Unsafe.Add(ref ra, (i0 * k) + k0);
        for (var kk = 0; kk < kc; kk++)
        {
            var b0 = Vector512.LoadUnsafe(ref rp, (nuint)(kk * 32));
            var b1 = Vector512.LoadUnsafe(ref rp, (nuint)((kk * 32) + 16));
            var x = Vector512.Create(Unsafe.Add(ref a0, kk));
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(Unsafe.Add(ref a0, k + kk));
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(Unsafe.Add(ref a0, (2 * k) + kk));
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(Unsafe.Add(ref a0, (3 * k) + kk));
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(Unsafe.Add(ref a0, (4 * k) + kk));
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(Unsafe.Add(ref a0, (5 * k) + kk));
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
        }

        c00.StoreUnsafe(ref rc, c0); c01.StoreUnsafe(ref rc, c0 + 16);
        c10.StoreUnsafe(ref rc, c0 + s); c11.StoreUnsafe(ref rc, c0 + s + 16);
        c20.StoreUnsafe(ref rc, c0 + (2 * s)); c21.StoreUnsafe(ref rc, c0 + (2 * s) + 16);
        c30.StoreUnsafe(ref rc, c0 + (3 * s)); c31.StoreUnsafe(ref rc, c0 + (3 * s) + 16);
        c40.StoreUnsafe(ref rc, c0 + (4 * s)); c41.StoreUnsafe(ref rc, c0 + (4 * s) + 16);
        c50.StoreUnsafe(ref rc, c0 + (5 * s)); c51.StoreUnsafe(ref rc, c0 + (5 * s) + 16);
    }

    private static void Kernel256(float[] a, ReadOnlySpan<float> panel, float[] c, int i0, int j0, int k0, int kc, int n, int k)
    {
        ref var rc = ref MemoryMarshal.GetArrayDataReference(c);
        ref var ra = ref MemoryMarshal.GetArrayDataReference(a);
        ref var rp = ref MemoryMarshal.GetReference(panel);
        var c0 = (nuint)((i0 * n) + j0);
        var s = (nuint)n;
        var c00 = Vector256.LoadUnsafe(ref rc, c0); var c01 = Vector256.LoadUnsafe(ref rc, c0 + 8);
        var c10 = Vector256.LoadUnsafe(ref rc, c0 + s); var c11 = Vector256.LoadUnsafe(ref rc, c0 + s + 8);
        var c20 = Vector256.LoadUnsafe(ref rc, c0 + (2 * s)); var c21 = Vector256.LoadUnsafe(ref rc, c0 + (2 * s) + 8);
        var c30 = Vector256.LoadUnsafe(ref rc, c0 + (3 * s)); var c31 = Vector256.LoadUnsafe(ref rc, c0 + (3 * s) + 8);
        var c40 = Vector256.LoadUnsafe(ref rc, c0 + (4 * s)); var c41 = Vector256.LoadUnsafe(ref rc, c0 + (4 * s) + 8);
        var c50 = Vector256.LoadUnsafe(ref rc, c0 + (5 * s)); var c51 = Vector256.LoadUnsafe(ref rc, c0 + (5 * s) + 8);
        ref var a0 = ref Unsafe.Add(ref ra, (i0 * k) + k0);
        for (var kk = 0; kk < kc; kk++)
        {
            var b0 = Vector256.LoadUnsafe(ref rp, (nuint)(kk * 16));
            var b1 = Vector256.LoadUnsafe(ref rp, (nuint)((kk * 16) + 8));
            var x = Vector256.Create(Unsafe.Add(ref a0, kk));
            c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(Unsafe.Add(ref a0, k + kk));
            c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(Unsafe.Add(ref a0, (2 * k) + kk));
            c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(Unsafe.Add(ref a0, (3 * k) + kk));
            c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(Unsafe.Add(ref a0, (4 * k) + kk));
            c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(Unsafe.Add(ref a0, (5 * k) + kk));
            c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
        }

        c00.StoreUnsafe(ref rc, c0); c01.StoreUnsafe(ref rc, c0 + 8);
        c10.StoreUnsafe(ref rc, c0 + s); c11.StoreUnsafe(ref rc, c0 + s + 8);
        c20.StoreUnsafe(ref rc, c0 + (2 * s)); c21.StoreUnsafe(ref rc, c0 + (2 * s) + 8);
        c30.StoreUnsafe(ref rc, c0 + (3 * s)); c31.StoreUnsafe(ref rc, c0 + (3 * s) + 8);
        c40.StoreUnsafe(ref rc, c0 + (4 * s)); c41.StoreUnsafe(ref rc, c0 + (4 * s) + 8);
        c50.StoreUnsafe(ref rc, c0 + (5 * s)); c51.StoreUnsafe(ref rc, c0 + (5 * s) + 8);
    }
}
