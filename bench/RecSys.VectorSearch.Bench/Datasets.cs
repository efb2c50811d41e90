using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace RecSys.VectorSearch.Bench;

/// <summary>Synthetic embeddings, exact ground truth and .fvecs/.ivecs/.npy I/O.</summary>
internal static partial class Datasets
{
    /// <summary>
    /// Rows shaped like learned embeddings: a rank-<paramref name="rank"/> signal (shared random basis, gaussian
    /// coefficients) plus isotropic gaussian noise, L2-normalized. Row i depends only on (seed, i), so the result
    /// does not depend on thread count.
    /// </summary>
    public static float[] LowRankPlusNoise(int n, int dim, int rank, float noise, int seed, int rowOffset = 0)
    {
        var basis = new float[rank * dim];
        var brng = new Random(seed);
        for (var i = 0; i < basis.Length; i++) basis[i] = (float)Normal(brng);
        var data = new float[(long)n * dim];
        Parallel.For(0, n, i =>
        {
            var rng = new Random(HashCode.Combine(seed, rowOffset + i, 0x5EED));
            Span<float> coef = stackalloc float[rank];
            for (var r = 0; r < rank; r++) coef[r] = (float)Normal(rng) / MathF.Sqrt(rank);
            var row = data.AsSpan(i * dim, dim);
            for (var d = 0; d < dim; d++) row[d] = noise * (float)Normal(rng);
            for (var r = 0; r < rank; r++)
            {
                var c = coef[r];
                var b = basis.AsSpan(r * dim, dim);
                for (var d = 0; d < dim; d++) row[d] += c * b[d];
            }
            VectorKernels.Normalize(row);
        });
        return data;
    }

    private static double Normal(Random rng)
    {
        var u1 = 1.0 - rng.NextDouble();
        var u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>Exact top-k by inner product for every query (parallel over queries).</summary>
    public static int[] GroundTruth(float[] data, float[] queries, int dim, int k)
    {
        var n = data.Length / dim;
        var nq = queries.Length / dim;
        var gt = new int[nq * k];
        Parallel.For(0, nq, q =>
        {
            var query = queries.AsSpan(q * dim, dim);
            var ids = new int[k];
            var scores = new float[k];
            var count = 0;
            for (var i = 0; i < n; i++)
            {
                var s = VectorKernels.Dot(data.AsSpan(i * dim, dim), query);
                if (count < k)
                {
                    var j = count++;
                    while (j > 0 && scores[j - 1] < s)
                    {
                        scores[j] = scores[j - 1];
                        ids[j] = ids[j - 1];
                        j--;
                    }
                    scores[j] = s;
                    ids[j] = i;
                }
                else if (s > scores[k - 1])
                {
                    var j = k - 1;
                    while (j > 0 && scores[j - 1] < s)
                    {
                        scores[j] = scores[j - 1];
                        ids[j] = ids[j - 1];
                        j--;
                    }
                    scores[j] = s;
                    ids[j] = i;
                }
            }
            ids.CopyTo(gt.AsSpan(q * k, k));
        });
        return gt;
    }

    public static void WriteFvecs(string path, float[] data, int dim)
    {
        using var fs = new BufferedStream(File.Create(path), 1 << 20);
        Span<byte> d = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(d, dim);
        var n = data.Length / dim;
        for (var i = 0; i < n; i++)
        {
            fs.Write(d);
            fs.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan(i * dim, dim)));
        }
    }

    public static void WriteIvecs(string path, int[] data, int k)
    {
        using var fs = new BufferedStream(File.Create(path), 1 << 20);
        Span<byte> d = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(d, k);
        for (var i = 0; i < data.Length / k; i++)
        {
            fs.Write(d);
            fs.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan(i * k, k)));
        }
    }

    /// <summary>Reads .fvecs (per row: int32 dim, then dim float32) or .npy (float32, C order, 2-D).</summary>
    public static (float[] data, int dim) Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        return Path.GetExtension(path).ToUpperInvariant() switch
        {
            ".FVECS" => ReadFvecs(bytes),
            ".NPY" => ReadNpy(bytes, path),
            _ => throw new NotSupportedException($"Unknown vector file type: {path} (use .fvecs or .npy)"),
        };
    }

    private static (float[], int) ReadFvecs(byte[] bytes)
    {
        var dim = BinaryPrimitives.ReadInt32LittleEndian(bytes);
        var rowBytes = 4 * (dim + 1);
        var n = bytes.Length / rowBytes;
        var data = new float[(long)n * dim];
        for (var i = 0; i < n; i++)
            System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes.AsSpan((i * rowBytes) + 4, dim * 4)).CopyTo(data.AsSpan(i * dim, dim));
        return (data, dim);
    }

    private static (float[], int) ReadNpy(byte[] bytes, string path)
    {
        if (bytes.Length < 10 || bytes[0] != 0x93 || Encoding.ASCII.GetString(bytes, 1, 5) != "NUMPY")
            throw new InvalidDataException($"{path} is not a .npy file");
        int headerLen, offset;
        if (bytes[6] == 1)
        {
            headerLen = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8));
            offset = 10;
        }
        else
        {
            headerLen = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8));
            offset = 12;
        }
        var header = Encoding.ASCII.GetString(bytes, offset, headerLen);
        if (!header.Contains("'<f4'", StringComparison.Ordinal)) throw new InvalidDataException($"{path}: only little-endian float32 is supported ({header})");
        if (header.Contains("'fortran_order': True", StringComparison.Ordinal)) throw new InvalidDataException($"{path}: Fortran order is not supported");
        var m = ShapeRegex().Match(header);
        if (!m.Success) throw new InvalidDataException($"{path}: expected a 2-D shape ({header})");
        var n = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        var dim = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        var data = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes.AsSpan(offset + headerLen, n * dim * 4)).ToArray();
        return (data, dim);
    }

    [GeneratedRegex(@"'shape':\s*\((\d+),\s*(\d+)\)")]
    private static partial Regex ShapeRegex();
}
