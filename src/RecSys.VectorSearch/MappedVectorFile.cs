using System.Buffers.Binary;

namespace RecSys.VectorSearch;

/// <summary>
/// Full-precision vectors in a snapshot-format file (sections META and VECS), memory-mapped for re-ranking so they
/// need not be resident. Checksums are verified on open (pass verify: false to skip the full read for huge files).
/// </summary>
public sealed unsafe class MappedVectorFile : IVectorStore, IDisposable
{
    private readonly SnapshotReader _reader;
    private readonly float* _data;

    private MappedVectorFile(SnapshotReader reader, int dim, int count, float* data)
    {
        _reader = reader;
        Dimension = dim;
        Count = count;
        _data = data;
    }

    public int Dimension { get; }

    public int Count { get; }

    public static void Write(string path, ReadOnlySpan<float> vectors, int dimension)
    {
        if (vectors.Length % dimension != 0) ThrowHelper.DimensionMismatch(dimension, vectors.Length % dimension);
        var meta = new byte[16];
        BinaryPrimitives.WriteInt32LittleEndian(meta, dimension);
        BinaryPrimitives.WriteInt64LittleEndian(meta.AsSpan(8), vectors.Length / dimension);
        var copy = vectors.ToArray();
        SnapshotFormat.Write(path,
        [
            SnapshotFormat.Section.Of("META", meta, meta.Length),
            SnapshotFormat.Section.Of("VECS", copy, copy.Length),
        ]);
    }

    public static MappedVectorFile Open(string path, bool verify = true)
    {
        var r = SnapshotReader.Open(path, verify);
        try
        {
            var meta = r.Span<byte>("META");
            var dim = BinaryPrimitives.ReadInt32LittleEndian(meta);
            var count = BinaryPrimitives.ReadInt64LittleEndian(meta[8..]);
            var (p, len) = r.Section("VECS");
            if (dim <= 0 || len != count * dim * sizeof(float)) throw new SnapshotCorruptedException(path, "VECS size disagrees with META");
            return new MappedVectorFile(r, dim, checked((int)count), (float*)p);
        }
        catch
        {
            r.Dispose();
            throw;
        }
    }

    public ReadOnlySpan<float> Get(int row)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)row, (uint)Count, nameof(row));
        // SAFETY: row < Count and the VECS section holds Count * Dimension floats inside the live map.
        return new ReadOnlySpan<float>(_data + ((long)row * Dimension), Dimension);
    }

    public void Dispose() => _reader.Dispose();
}
