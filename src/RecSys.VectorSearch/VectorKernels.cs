using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace RecSys.VectorSearch;

/// <summary>The instruction set used by the distance kernels.</summary>
public enum KernelKind
{
    Scalar = 0,
    Vector128 = 1,
    Vector256 = 2,
    Vector512 = 3,
}

/// <summary>
/// Inner-product kernels per instruction set. <see cref="Dot(ReadOnlySpan{float}, ReadOnlySpan{float})"/>
/// picks the widest accelerated width at JIT time (the IsHardwareAccelerated checks are JIT constants).
/// </summary>
public static class VectorKernels
{
    /// <summary>The widest kernel this process uses.</summary>
    public static KernelKind Active { get; } =
        Vector512.IsHardwareAccelerated ? KernelKind.Vector512 :
        Vector256.IsHardwareAccelerated ? KernelKind.Vector256 :
        Vector128.IsHardwareAccelerated ? KernelKind.Vector128 : KernelKind.Scalar;

    /// <summary>Kernels that can run on this machine (always includes Scalar).</summary>
    public static IReadOnlyList<KernelKind> Supported { get; } = BuildSupported();

    private static KernelKind[] BuildSupported()
    {
        var list = new List<KernelKind> { KernelKind.Scalar };
        if (Vector128.IsHardwareAccelerated) list.Add(KernelKind.Vector128);
        if (Vector256.IsHardwareAccelerated) list.Add(KernelKind.Vector256);
        if (Vector512.IsHardwareAccelerated) list.Add(KernelKind.Vector512);
        return [.. list];
    }

    /// <summary>Inner product with the active kernel.</summary>
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) ThrowHelper.DimensionMismatch(a.Length, b.Length);
        return Dot(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b), a.Length);
    }

    /// <summary>Inner product with a chosen kernel (for tests and benchmarks).</summary>
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b, KernelKind kind)
    {
        if (a.Length != b.Length) ThrowHelper.DimensionMismatch(a.Length, b.Length);
        ref var ra = ref MemoryMarshal.GetReference(a);
        ref var rb = ref MemoryMarshal.GetReference(b);
        return kind switch
        {
            KernelKind.Vector512 when Vector512.IsHardwareAccelerated => Dot512(ref ra, ref rb, a.Length),
            KernelKind.Vector256 when Vector256.IsHardwareAccelerated => Dot256(ref ra, ref rb, a.Length),
            KernelKind.Vector128 when Vector128.IsHardwareAccelerated => Dot128(ref ra, ref rb, a.Length),
            KernelKind.Scalar => DotScalar(ref ra, ref rb, a.Length),
            _ => throw new PlatformNotSupportedException($"Kernel {kind} is not accelerated on this machine."),
        };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Dot(ref float a, ref float b, int n)
    {
        if (Vector512.IsHardwareAccelerated && n >= 16) return Dot512(ref a, ref b, n);
        if (Vector256.IsHardwareAccelerated && n >= 8) return Dot256(ref a, ref b, n);
        if (Vector128.IsHardwareAccelerated && n >= 4) return Dot128(ref a, ref b, n);
        return DotScalar(ref a, ref b, n);
    }

    /// <summary>
    /// The inner product of 16 floats (the collaborative embeddings' width) with the active kernel's own operations in its
    /// own order, written out without the loop and inlined into the search: bit for bit what <see cref="Dot(ref float, ref float, int)"/>
    /// gives at n = 16 (Vector512: one fused multiply-add into zero, then the lane sum; Vector256: two into two accumulators,
    /// their sum, then the lane sum), so a search at d = 16 answers exactly as before.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Dot16(ref float a, ref float b)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            var acc = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref a), Vector512.LoadUnsafe(ref b), Vector512<float>.Zero);
            return Vector512.Sum(acc + Vector512<float>.Zero);
        }

        if (Vector256.IsHardwareAccelerated)
        {
            var acc0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref a), Vector256.LoadUnsafe(ref b), Vector256<float>.Zero);
            var acc1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref a, 8), Vector256.LoadUnsafe(ref b, 8), Vector256<float>.Zero);
            return Vector256.Sum(acc0 + acc1);
        }

        return Dot(ref a, ref b, 16);
    }

    internal static float DotScalar(ref float a, ref float b, int n)
    {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        var i = 0;
        for (; i + 4 <= n; i += 4)
        {
            s0 += Unsafe.Add(ref a, i) * Unsafe.Add(ref b, i);
            s1 += Unsafe.Add(ref a, i + 1) * Unsafe.Add(ref b, i + 1);
            s2 += Unsafe.Add(ref a, i + 2) * Unsafe.Add(ref b, i + 2);
            s3 += Unsafe.Add(ref a, i + 3) * Unsafe.Add(ref b, i + 3);
        }
        for (; i < n; i++) s0 += Unsafe.Add(ref a, i) * Unsafe.Add(ref b, i);
        return (s0 + s1) + (s2 + s3);
    }

    internal static float Dot128(ref float a, ref float b, int n)
    {
        var acc0 = Vector128<float>.Zero;
        var acc1 = Vector128<float>.Zero;
        var i = 0;
        for (; i + 8 <= n; i += 8)
        {
            acc0 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref a, (nuint)i), Vector128.LoadUnsafe(ref b, (nuint)i), acc0);
            acc1 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref a, (nuint)(i + 4)), Vector128.LoadUnsafe(ref b, (nuint)(i + 4)), acc1);
        }
        for (; i + 4 <= n; i += 4)
            acc0 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref a, (nuint)i), Vector128.LoadUnsafe(ref b, (nuint)i), acc0);
        var s = Vector128.Sum(acc0 + acc1);
        for (; i < n; i++) s += Unsafe.Add(ref a, i) * Unsafe.Add(ref b, i);
        return s;
    }

    internal static float Dot256(ref float a, ref float b, int n)
    {
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        var i = 0;
        for (; i + 16 <= n; i += 16)
        {
            acc0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref a, (nuint)i), Vector256.LoadUnsafe(ref b, (nuint)i), acc0);
            acc1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref a, (nuint)(i + 8)), Vector256.LoadUnsafe(ref b, (nuint)(i + 8)), acc1);
        }
        for (; i + 8 <= n; i += 8)
            acc0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref a, (nuint)i), Vector256.LoadUnsafe(ref b, (nuint)i), acc0);
        var s = Vector256.Sum(acc0 + acc1);
        for (; i < n; i++) s += Unsafe.Add(ref a, i) * Unsafe.Add(ref b, i);
        return s;
    }

    internal static float Dot512(ref float a, ref float b, int n)
    {
        var acc0 = Vector512<float>.Zero;
        var acc1 = Vector512<float>.Zero;
        var i = 0;
        for (; i + 32 <= n; i += 32)
        {
            acc0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref a, (nuint)i), Vector512.LoadUnsafe(ref b, (nuint)i), acc0);
            acc1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref a, (nuint)(i + 16)), Vector512.LoadUnsafe(ref b, (nuint)(i + 16)), acc1);
        }
        for (; i + 16 <= n; i += 16)
            acc0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref a, (nuint)i), Vector512.LoadUnsafe(ref b, (nuint)i), acc0);
        var s = Vector512.Sum(acc0 + acc1);
        for (; i < n; i++) s += Unsafe.Add(ref a, i) * Unsafe.Add(ref b, i);
        return s;
    }

    /// <summary>Squared L2 distance (used by k-means in product quantization).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float L2Squared(ref float a, ref float b, int n)
    {
        var i = 0;
        var s = 0f;
        if (Vector256.IsHardwareAccelerated)
        {
            var acc = Vector256<float>.Zero;
            for (; i + 8 <= n; i += 8)
            {
                var d = Vector256.LoadUnsafe(ref a, (nuint)i) - Vector256.LoadUnsafe(ref b, (nuint)i);
                acc = Vector256.FusedMultiplyAdd(d, d, acc);
            }
            s = Vector256.Sum(acc);
        }
        if (Vector128.IsHardwareAccelerated && i + 4 <= n)
        {
            var acc = Vector128<float>.Zero;
            for (; i + 4 <= n; i += 4)
            {
                var d = Vector128.LoadUnsafe(ref a, (nuint)i) - Vector128.LoadUnsafe(ref b, (nuint)i);
                acc = Vector128.FusedMultiplyAdd(d, d, acc);
            }
            s += Vector128.Sum(acc);
        }
        for (; i < n; i++)
        {
            var d = Unsafe.Add(ref a, i) - Unsafe.Add(ref b, i);
            s += d * d;
        }
        return s;
    }

    /// <summary>Scales <paramref name="v"/> to unit L2 norm in place (zero vectors are left as they are).</summary>
    public static void Normalize(Span<float> v)
    {
        var norm = MathF.Sqrt(Dot(v, v));
        if (norm <= 0f || float.IsNaN(norm)) return;
        var inv = 1f / norm;
        for (var i = 0; i < v.Length; i++) v[i] *= inv;
    }
}
