using System.Runtime.CompilerServices;

namespace RecSys.VectorSearch;

/// <summary>Settings of a <see cref="ProductQuantizer"/>.</summary>
public sealed record PqOptions
{
    /// <summary>Sub-vectors per vector (bytes of code per vector at 8 bits).</summary>
    public int Segments { get; init; } = 32;

    /// <summary>Bits per segment code; only 8 (256 centroids) is supported.</summary>
    public int Bits { get; init; } = 8;

    /// <summary>Training vectors drawn (deterministically) from the data.</summary>
    public int SampleSize { get; init; } = 20_000;

    public int Iterations { get; init; } = 10;

    public int Seed { get; init; } = 7;

    public int MaxDegreeOfParallelism { get; init; } = -1;
}

/// <summary>
/// Product quantizer: each vector is cut into <see cref="Segments"/> sub-vectors, each replaced by the index of its
/// nearest of 256 k-means centroids (one byte). Queries are scored with an asymmetric distance table
/// (query sub-vector . centroid) so no vector is decoded at search time.
/// </summary>
public sealed class ProductQuantizer
{
    public const int Centroids = 256;
    private readonly float[] _codebooks; // [segment][centroid][subDim]

    private ProductQuantizer(int dim, int segments, float[] codebooks)
    {
        Dimension = dim;
        Segments = segments;
        SubDimension = dim / segments;
        _codebooks = codebooks;
    }

    public int Dimension { get; }

    public int Segments { get; }

    public int SubDimension { get; }

    /// <summary>Bytes of code per vector.</summary>
    public int CodeSize => Segments;

    internal ReadOnlySpan<float> Codebooks => _codebooks;

    internal static ProductQuantizer FromCodebooks(int dim, int segments, float[] codebooks)
    {
        if (dim % segments != 0 || codebooks.Length != segments * Centroids * (dim / segments))
            throw new ArgumentException("Codebook shape does not match dimension and segments.");
        return new ProductQuantizer(dim, segments, codebooks);
    }

    /// <summary>Trains codebooks with k-means (k-means++-free: seeded random init, Lloyd iterations) on a deterministic sample.</summary>
    public static ProductQuantizer Train(ReadOnlySpan<float> vectors, int dim, PqOptions? options = null)
    {
        options ??= new PqOptions();
        if (options.Bits != 8) throw new ArgumentOutOfRangeException(nameof(options), "Only 8-bit codes are supported.");
        if (dim % options.Segments != 0) throw new ArgumentException($"Dimension {dim} is not divisible by {options.Segments} segments.");
        var n = vectors.Length / dim;
        if (n == 0) throw new ArgumentException("No training vectors.");
        var sub = dim / options.Segments;
        var sampleN = Math.Min(n, options.SampleSize);
        var rng = new Random(options.Seed);
        // Deterministic sample: a seeded partial Fisher-Yates over row indices.
        var rows = new int[n];
        for (var i = 0; i < n; i++) rows[i] = i;
        for (var i = 0; i < sampleN; i++)
        {
            var j = rng.Next(i, n);
            (rows[i], rows[j]) = (rows[j], rows[i]);
        }
        var sample = new float[sampleN * dim];
        for (var i = 0; i < sampleN; i++) vectors.Slice(rows[i] * dim, dim).CopyTo(sample.AsSpan(i * dim, dim));

        var codebooks = new float[options.Segments * Centroids * sub];
        Parallel.For(0, options.Segments, new ParallelOptions { MaxDegreeOfParallelism = options.MaxDegreeOfParallelism }, s =>
        {
            var data = new float[sampleN * sub];
            for (var i = 0; i < sampleN; i++) sample.AsSpan((i * dim) + (s * sub), sub).CopyTo(data.AsSpan(i * sub, sub));
            var centroids = codebooks.AsSpan(s * Centroids * sub, Centroids * sub);
            KMeans(data, sampleN, sub, centroids, options.Iterations, options.Seed + (s * 7919));
        });
        return new ProductQuantizer(dim, options.Segments, codebooks);
    }

    private static void KMeans(float[] data, int n, int sub, Span<float> centroids, int iterations, int seed)
    {
        var rng = new Random(seed);
        var k = Centroids;
        for (var c = 0; c < k; c++) data.AsSpan(rng.Next(n) * sub, sub).CopyTo(centroids.Slice(c * sub, sub));
        var assign = new int[n];
        var sums = new double[k * sub];
        var counts = new int[k];
        for (var it = 0; it < iterations; it++)
        {
            for (var i = 0; i < n; i++) assign[i] = Nearest(data.AsSpan(i * sub, sub), centroids, sub);
            Array.Clear(sums);
            Array.Clear(counts);
            for (var i = 0; i < n; i++)
            {
                var c = assign[i];
                counts[c]++;
                for (var d = 0; d < sub; d++) sums[(c * sub) + d] += data[(i * sub) + d];
            }
            for (var c = 0; c < k; c++)
            {
                if (counts[c] == 0)
                {
                    // Empty cluster: re-seed it from a random point (deterministic by seed).
                    data.AsSpan(rng.Next(n) * sub, sub).CopyTo(centroids.Slice(c * sub, sub));
                    continue;
                }
                for (var d = 0; d < sub; d++) centroids[(c * sub) + d] = (float)(sums[(c * sub) + d] / counts[c]);
            }
        }
    }

    private static int Nearest(ReadOnlySpan<float> x, ReadOnlySpan<float> centroids, int sub)
    {
        var best = 0;
        var bestD = float.MaxValue;
        ref var xr = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
        ref var cr = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(centroids);
        for (var c = 0; c < Centroids; c++)
        {
            var d = VectorKernels.L2Squared(ref xr, ref Unsafe.Add(ref cr, c * sub), sub);
            if (d < bestD)
            {
                bestD = d;
                best = c;
            }
        }
        return best;
    }

    /// <summary>Encodes one vector into <see cref="CodeSize"/> bytes.</summary>
    public void Encode(ReadOnlySpan<float> vector, Span<byte> code)
    {
        if (vector.Length != Dimension) ThrowHelper.DimensionMismatch(Dimension, vector.Length);
        for (var s = 0; s < Segments; s++)
            code[s] = (byte)Nearest(vector.Slice(s * SubDimension, SubDimension), _codebooks.AsSpan(s * Centroids * SubDimension, Centroids * SubDimension), SubDimension);
    }

    /// <summary>Encodes many vectors (row-major) in parallel.</summary>
    public byte[] EncodeBatch(ReadOnlyMemory<float> vectors, int maxDegreeOfParallelism = -1)
    {
        var n = vectors.Length / Dimension;
        var codes = new byte[(long)n * Segments];
        Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism },
            i => Encode(vectors.Span.Slice(i * Dimension, Dimension), codes.AsSpan(i * Segments, Segments)));
        return codes;
    }

    /// <summary>Reconstructs an approximate vector from its code.</summary>
    public void Decode(ReadOnlySpan<byte> code, Span<float> vector)
    {
        for (var s = 0; s < Segments; s++)
            _codebooks.AsSpan(((s * Centroids) + code[s]) * SubDimension, SubDimension).CopyTo(vector.Slice(s * SubDimension, SubDimension));
    }

    /// <summary>Fills the asymmetric distance table: table[s*256+c] = query_s . centroid_{s,c}.</summary>
    public void ComputeInnerProductTable(ReadOnlySpan<float> query, Span<float> table)
    {
        if (query.Length != Dimension) ThrowHelper.DimensionMismatch(Dimension, query.Length);
        var sub = SubDimension;
        for (var s = 0; s < Segments; s++)
        {
            var q = query.Slice(s * sub, sub);
            var cb = _codebooks.AsSpan(s * Centroids * sub, Centroids * sub);
            var row = table.Slice(s * Centroids, Centroids);
            for (var c = 0; c < Centroids; c++) row[c] = VectorKernels.Dot(q, cb.Slice(c * sub, sub));
        }
    }
}

/// <summary>Scores nodes by summing table entries picked by their PQ codes (distance = -approximate inner product).</summary>
internal readonly unsafe struct PqScorer : IScorer
{
    private readonly byte* _codes;
    private readonly float* _table;
    private readonly int _segments;

    public PqScorer(byte* codes, float* table, int segments)
    {
        _codes = codes;
        _table = table;
        _segments = segments;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Distance(int node)
    {
        // SAFETY: node < number of encoded vectors; the code array holds node*segments..+segments.
        var c = _codes + ((long)node * _segments);
        var t = _table;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        var s = 0;
        for (; s + 4 <= _segments; s += 4)
        {
            s0 += t[(s * 256) + c[s]];
            s1 += t[((s + 1) * 256) + c[s + 1]];
            s2 += t[((s + 2) * 256) + c[s + 2]];
            s3 += t[((s + 3) * 256) + c[s + 3]];
        }
        for (; s < _segments; s++) s0 += t[(s * 256) + c[s]];
        return -((s0 + s1) + (s2 + s3));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(int node)
    {
        if (System.Runtime.Intrinsics.X86.Sse.IsSupported)
            // SAFETY: prefetch never faults.
            System.Runtime.Intrinsics.X86.Sse.Prefetch0(_codes + ((long)node * _segments));
    }
}
