using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace RecSys.Learning.Als;

/// <summary>
/// Factors after <see cref="EpochsCompleted"/> epochs, saved so training can resume bit-for-bit where it stopped.
/// File layout (little-endian): magic "RSALSCK1", int32 version, int32 users, int32 items, int32 dimension,
/// int32 epochs completed, uint64 seed, user factors, item factors (float32 row-major), then the XxHash64 of everything
/// before it. Written to a temporary file and renamed, so a crash never leaves a half-written checkpoint.
/// </summary>
public sealed record AlsCheckpoint(FactorModel Model, int EpochsCompleted, ulong Seed)
{
    private const int Version = 1;
    private static readonly byte[] Magic = "RSALSCK1"u8.ToArray();
    private const int HeaderBytes = 8 + (5 * 4) + 8;

    public static void Save(string path, AlsCheckpoint checkpoint)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(checkpoint);
        var model = checkpoint.Model;
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        var temporary = path + ".tmp";
        var hash = new XxHash64();
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            Span<byte> header = stackalloc byte[HeaderBytes];
            Magic.CopyTo(header);
            BinaryPrimitives.WriteInt32LittleEndian(header[8..], Version);
            BinaryPrimitives.WriteInt32LittleEndian(header[12..], model.UserCount);
            BinaryPrimitives.WriteInt32LittleEndian(header[16..], model.ItemCount);
            BinaryPrimitives.WriteInt32LittleEndian(header[20..], model.Dimension);
            BinaryPrimitives.WriteInt32LittleEndian(header[24..], checkpoint.EpochsCompleted);
            BinaryPrimitives.WriteUInt64LittleEndian(header[28..], checkpoint.Seed);
            Write(stream, hash, header);
            WriteFloats(stream, hash, model.UserFactors);
            WriteFloats(stream, hash, model.ItemFactors);
            Span<byte> digest = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(digest, hash.GetCurrentHashAsUInt64());
            stream.Write(digest);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Reads a checkpoint; a wrong magic, version, size or checksum throws <see cref="InvalidDataException"/>.</summary>
    public static AlsCheckpoint Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        var hash = new XxHash64();
        Span<byte> header = stackalloc byte[HeaderBytes];
        ReadExactly(stream, header, path);
        hash.Append(header);
        if (!header[..8].SequenceEqual(Magic))
        {
            throw new InvalidDataException($"{path} is not an ALS checkpoint (bad magic).");
        }

        var version = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
        var users = BinaryPrimitives.ReadInt32LittleEndian(header[12..]);
        var items = BinaryPrimitives.ReadInt32LittleEndian(header[16..]);
        var dimension = BinaryPrimitives.ReadInt32LittleEndian(header[20..]);
        var epochs = BinaryPrimitives.ReadInt32LittleEndian(header[24..]);
        var seed = BinaryPrimitives.ReadUInt64LittleEndian(header[28..]);
        if (version != Version || users < 0 || items < 0 || dimension < 1 || epochs < 0)
        {
            throw new InvalidDataException($"{path}: unsupported version {version} or invalid header ({users} x {items} x d{dimension}, epoch {epochs}).");
        }

        var expected = HeaderBytes + ((((long)users + items) * dimension) * sizeof(float)) + 8;
        if (stream.Length != expected)
        {
            throw new InvalidDataException($"{path}: {stream.Length} bytes, expected {expected} for {users} x {items} x d{dimension}.");
        }

        var userFactors = new float[(long)users * dimension];
        var itemFactors = new float[(long)items * dimension];
        ReadFloats(stream, hash, userFactors, path);
        ReadFloats(stream, hash, itemFactors, path);
        Span<byte> digest = stackalloc byte[8];
        ReadExactly(stream, digest, path);
        if (BinaryPrimitives.ReadUInt64LittleEndian(digest) != hash.GetCurrentHashAsUInt64())
        {
            throw new InvalidDataException($"{path}: checksum mismatch (the file is corrupt).");
        }

        return new AlsCheckpoint(new FactorModel(users, items, dimension, userFactors, itemFactors), epochs, seed);
    }

    private static void Write(Stream stream, XxHash64 hash, ReadOnlySpan<byte> bytes)
    {
        hash.Append(bytes);
        stream.Write(bytes);
    }

    private static void WriteFloats(Stream stream, XxHash64 hash, float[] values)
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("Checkpoints are written on little-endian machines only.");
        }

        const int Block = 1 << 18;
        for (var offset = 0; offset < values.Length; offset += Block)
        {
            Write(stream, hash, MemoryMarshal.AsBytes(values.AsSpan(offset, Math.Min(Block, values.Length - offset))));
        }
    }

    private static void ReadFloats(Stream stream, XxHash64 hash, float[] values, string path)
    {
        const int Block = 1 << 18;
        for (var offset = 0; offset < values.Length; offset += Block)
        {
            var bytes = MemoryMarshal.AsBytes(values.AsSpan(offset, Math.Min(Block, values.Length - offset)));
            ReadExactly(stream, bytes, path);
            hash.Append(bytes);
        }
    }

    private static void ReadExactly(Stream stream, Span<byte> buffer, string path)
    {
        try
        {
            stream.ReadExactly(buffer);
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException($"{path}: truncated.", e);
        }
    }
}
