using System.Runtime.Intrinsics;

namespace RecSys.Learning.Kernels;

/// <summary>Vector width a kernel runs at; the best available is chosen once, tests force the others.</summary>
internal enum KernelWidth
{
    Scalar,
    Vector256,
    Vector512,
}

internal static class KernelDispatch
{
    public static KernelWidth Best { get; } =
        Vector512.IsHardwareAccelerated ? KernelWidth.Vector512
        : Vector256.IsHardwareAccelerated ? KernelWidth.Vector256
        : KernelWidth.Scalar;

    /// <summary>Widths this machine can execute, for tests that compare them.</summary>
    public static IReadOnlyList<KernelWidth> Available { get; } =
        [KernelWidth.Scalar, .. Vector256.IsHardwareAccelerated ? [KernelWidth.Vector256] : Array.Empty<KernelWidth>(),
            .. Vector512.IsHardwareAccelerated ? [KernelWidth.Vector512] : Array.Empty<KernelWidth>()];
}
