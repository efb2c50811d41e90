using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using BenchmarkDotNet.Attributes;
using RecSys.FeatureStore.Keys;

namespace RecSys.Benchmarks;

/// <summary>
/// Writing an embedding the way the online store does (<see cref="EmbeddingBytes.ToBytes"/>: little-endian float32).
/// Baseline: the naive text form a store could keep instead (invariant round-trip floats, comma-separated, UTF-8).
/// Reference: one bulk copy of the floats' bytes, the floor on a little-endian machine.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ShortRunConfig))]
public class EmbeddingEncodeBenchmarks
{
    private float[] _vector = [];

    [Params(64, 256)]
    public int Dimension { get; set; }

    [GlobalSetup]
    public void Setup() => _vector = EmbeddingSamples.Vector(Dimension);

    [Benchmark(Baseline = true)]
    public byte[] NaiveText() => EmbeddingSamples.ToText(_vector);

    [Benchmark]
    public byte[] EmbeddingBytes_ToBytes() => EmbeddingBytes.ToBytes(_vector);

    [Benchmark]
    public byte[] BulkCopy_Floor() => MemoryMarshal.AsBytes(_vector.AsSpan()).ToArray();
}

/// <summary>
/// Reading an embedding back (<see cref="EmbeddingBytes.FromBytes"/>, with the dimension check the serving path passes),
/// against parsing the naive text form, and the bulk-copy floor.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ShortRunConfig))]
public class EmbeddingDecodeBenchmarks
{
    private byte[] _binary = [];
    private byte[] _text = [];

    [Params(64, 256)]
    public int Dimension { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var vector = EmbeddingSamples.Vector(Dimension);
        _binary = EmbeddingBytes.ToBytes(vector);
        _text = EmbeddingSamples.ToText(vector);
        if (!EmbeddingBytes.FromBytes(_binary, Dimension)!.SequenceEqual(vector) || !NaiveText().SequenceEqual(vector) || !BulkCopy_Floor().SequenceEqual(vector))
        {
            throw new InvalidOperationException("A decoder does not give back the encoded vector.");
        }
    }

    [Benchmark(Baseline = true)]
    public float[] NaiveText()
    {
        var parts = Encoding.UTF8.GetString(_text).Split(',');
        var vector = new float[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            vector[i] = float.Parse(parts[i], CultureInfo.InvariantCulture);
        }

        return vector;
    }

    [Benchmark]
    public float[] EmbeddingBytes_FromBytes() => EmbeddingBytes.FromBytes(_binary, Dimension)!;

    [Benchmark]
    public float[] BulkCopy_Floor() => MemoryMarshal.Cast<byte, float>(_binary).ToArray();
}

internal static class EmbeddingSamples
{
    public static float[] Vector(int dimension)
    {
        var random = new Random(9);
        return [.. Enumerable.Range(0, dimension).Select(_ => (float)(random.NextDouble() - 0.5))];
    }

    public static byte[] ToText(float[] vector) =>
        Encoding.UTF8.GetBytes(string.Join(',', vector.Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
}
