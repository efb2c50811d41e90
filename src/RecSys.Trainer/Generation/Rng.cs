using System.Runtime.CompilerServices;

namespace RecSys.Trainer.Generation;

/// <summary>
/// xoshiro256** seeded through SplitMix64. Owned here rather than <see cref="Random"/> so that the stream of numbers
/// for a given seed can never change with the runtime version: generated worlds must stay byte-identical.
/// A mutable struct: pass it by <c>ref</c>.
/// </summary>
internal struct Rng
{
    private ulong _s0;
    private ulong _s1;
    private ulong _s2;
    private ulong _s3;

    public Rng(ulong seed)
    {
        var sm = seed;
        _s0 = SplitMix(ref sm);
        _s1 = SplitMix(ref sm);
        _s2 = SplitMix(ref sm);
        _s3 = SplitMix(ref sm);
    }

    /// <summary>An independent stream for (seed, a, b, c): lets users, days and items be generated in any order.</summary>
    public static Rng For(long seed, long a, long b = 0, long c = 0)
    {
        var h = (ulong)seed;
        h = Mix(h ^ 0x9E3779B97F4A7C15UL ^ (ulong)a);
        h = Mix(h ^ 0xC2B2AE3D27D4EB4FUL ^ (ulong)b);
        h = Mix(h ^ 0x165667B19E3779F9UL ^ (ulong)c);
        return new Rng(h);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong NextUInt64()
    {
        var result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        var t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [0, n) (multiply-shift; the bias is below 2^-32 for the sizes used here).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int NextInt(int n) => (int)(((NextUInt64() >> 32) * (ulong)n) >> 32);

    public bool Chance(double p) => NextDouble() < p;

    public double NextGaussian()
    {
        // Box-Muller, one value per call (keeps the struct free of cached state).
        var u1 = 1.0 - NextDouble();
        var u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    public double NextExponential(double mean) => -mean * Math.Log(1.0 - NextDouble());

    public int NextPoisson(double lambda)
    {
        if (lambda <= 0)
        {
            return 0;
        }

        if (lambda > 30)
        {
            return Math.Max(0, (int)Math.Round(lambda + Math.Sqrt(lambda) * NextGaussian()));
        }

        var limit = Math.Exp(-lambda);
        var k = 0;
        var p = NextDouble();
        while (p > limit)
        {
            k++;
            p *= NextDouble();
        }

        return k;
    }

    private static ulong SplitMix(ref ulong state)
    {
        state += 0x9E3779B97F4A7C15UL;
        return Mix(state);
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
