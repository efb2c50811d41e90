using System.Buffers.Binary;
using System.IO.Hashing;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;

namespace RecSys.VectorSearch;

/// <summary>A snapshot failed verification: bad magic, unsupported version, checksum mismatch, truncation or missing section.</summary>
public sealed class SnapshotCorruptedException : IOException
{
    public SnapshotCorruptedException(string path, string reason)
        : base($"Snapshot '{path}' is corrupted: {reason}")
    {
        Path = path;
        Reason = reason;
    }

    public string Path { get; }

    public string Reason { get; }
}

/// <summary>
/// The on-disk container. Every byte is covered by a check:
/// <code>
/// header  (64 B): magic "RSVSNAP\0", u32 version, u32 sectionCount, u64 totalLength, u64 XxHash64(header with this field 0), zero padding
/// section (32 B + payload padded to 64): u32 tag, u32 reserved, u64 length, u64 XxHash64(payload + padding), u64 XxHash64(first 24 B)
/// trailer (16 B): magic "RSVSEND\0", u64 totalLength
/// </code>
/// All integers little-endian; payloads start 64-byte aligned so they can be used in place from a memory map.
/// </summary>
public static class SnapshotFormat
{
    public const int CurrentVersion = 1;
    internal const int HeaderSize = 64;
    internal const int SectionHeaderSize = 32;
    internal const int TrailerSize = 16;
    internal static ReadOnlySpan<byte> Magic => "RSVSNAP\0"u8;
    internal static ReadOnlySpan<byte> EndMagic => "RSVSEND\0"u8;

    internal static uint Tag(string four) =>
        BinaryPrimitives.ReadUInt32LittleEndian(System.Text.Encoding.ASCII.GetBytes(four.PadRight(4)));

    internal static long Align(long n) => (n + 63) & ~63L;

    internal delegate void ChunkSink(ReadOnlySpan<byte> chunk);

    /// <summary>One section to write: its bytes are produced (twice: once to hash, once to write) by <see cref="Emit"/>.</summary>
    internal sealed record Section(uint Tag, long Length, Action<ChunkSink> Emit)
    {
        public static Section Of<T>(string tag, T[] data, long count)
            where T : unmanaged =>
            new(SnapshotFormat.Tag(tag), count * System.Runtime.CompilerServices.Unsafe.SizeOf<T>(), sink =>
            {
                const int chunkElements = 1 << 20;
                for (long done = 0; done < count;)
                {
                    var n = (int)Math.Min(chunkElements, count - done);
                    sink(MemoryMarshal.AsBytes(data.AsSpan((int)done, n)));
                    done += n;
                }
            });
    }

    /// <summary>Writes sections to <paramref name="path"/> atomically (temp file, flush to disk, rename).</summary>
    internal static void Write(string path, IReadOnlyList<Section> sections)
    {
        long total = HeaderSize + TrailerSize;
        foreach (var s in sections) total += SectionHeaderSize + Align(s.Length);
        var tmp = path + ".tmp";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            Span<byte> header = stackalloc byte[HeaderSize];
            header.Clear();
            Magic.CopyTo(header);
            BinaryPrimitives.WriteUInt32LittleEndian(header[8..], CurrentVersion);
            BinaryPrimitives.WriteUInt32LittleEndian(header[12..], (uint)sections.Count);
            BinaryPrimitives.WriteInt64LittleEndian(header[16..], total);
            BinaryPrimitives.WriteUInt64LittleEndian(header[24..], XxHash64.HashToUInt64(header));
            fs.Write(header);
            var sh = new byte[SectionHeaderSize];
            var zeros = new byte[64];
            foreach (var section in sections)
            {
                var pad = (int)(Align(section.Length) - section.Length);
                var h = new XxHash64();
                long emitted = 0;
                section.Emit(c =>
                {
                    h.Append(c);
                    emitted += c.Length;
                });
                if (emitted != section.Length) throw new InvalidOperationException($"Section emitted {emitted} bytes, declared {section.Length}.");
                h.Append(zeros.AsSpan(0, pad));
                Array.Clear(sh);
                BinaryPrimitives.WriteUInt32LittleEndian(sh, section.Tag);
                BinaryPrimitives.WriteInt64LittleEndian(sh.AsSpan(8), section.Length);
                BinaryPrimitives.WriteUInt64LittleEndian(sh.AsSpan(16), h.GetCurrentHashAsUInt64());
                BinaryPrimitives.WriteUInt64LittleEndian(sh.AsSpan(24), XxHash64.HashToUInt64(sh.AsSpan(0, 24)));
                fs.Write(sh);
                section.Emit(c => fs.Write(c));
                fs.Write(zeros.AsSpan(0, pad));
            }
            Span<byte> trailer = stackalloc byte[TrailerSize];
            EndMagic.CopyTo(trailer);
            BinaryPrimitives.WriteInt64LittleEndian(trailer[8..], total);
            fs.Write(trailer);
            fs.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
    }
}

/// <summary>A verified, memory-mapped snapshot; sections are spans over the map. Dispose releases the map.</summary>
internal sealed unsafe class SnapshotReader : IDisposable
{
    private readonly MemoryMappedFile _mmf;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly Dictionary<uint, (long Offset, long Length)> _sections = [];
    private bool _disposed;

    private SnapshotReader(string path, MemoryMappedFile mmf, MemoryMappedViewAccessor view, byte* basePtr, long length)
    {
        Path = path;
        _mmf = mmf;
        _view = view;
        _base = basePtr;
        Length = length;
    }

    public string Path { get; }

    public long Length { get; }

    public int Version { get; private set; }

    /// <summary>Maps and fully verifies <paramref name="path"/>; throws <see cref="SnapshotCorruptedException"/> when anything is off.</summary>
    public static SnapshotReader Open(string path, bool verifyPayloads = true)
    {
        var length = new FileInfo(path).Length;
        if (length < SnapshotFormat.HeaderSize + SnapshotFormat.TrailerSize)
            throw new SnapshotCorruptedException(path, $"file is {length} bytes, shorter than header and trailer");
        var mmf = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        try
        {
            view = mmf.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            // SAFETY: the view covers [0, length) and stays mapped until Dispose releases the pointer.
            var reader = new SnapshotReader(path, mmf, view, p + view.PointerOffset, length);
            reader.Verify(verifyPayloads);
            return reader;
        }
        catch
        {
            if (view is not null)
            {
                view.SafeMemoryMappedViewHandle.ReleasePointer();
                view.Dispose();
            }
            mmf.Dispose();
            throw;
        }
    }

    private ReadOnlySpan<byte> Bytes(long offset, long length) =>
        // SAFETY: callers check offset + length <= Length before calling.
        new(_base + offset, checked((int)length));

    private void Verify(bool verifyPayloads)
    {
        var header = Bytes(0, SnapshotFormat.HeaderSize);
        if (!header[..8].SequenceEqual(SnapshotFormat.Magic)) Fail("bad magic");
        Span<byte> copy = stackalloc byte[SnapshotFormat.HeaderSize];
        header.CopyTo(copy);
        BinaryPrimitives.WriteUInt64LittleEndian(copy[24..], 0);
        if (XxHash64.HashToUInt64(copy) != BinaryPrimitives.ReadUInt64LittleEndian(header[24..])) Fail("header checksum mismatch");
        Version = (int)BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
        if (Version != SnapshotFormat.CurrentVersion) Fail($"unsupported format version {Version}");
        var count = BinaryPrimitives.ReadUInt32LittleEndian(header[12..]);
        var total = BinaryPrimitives.ReadInt64LittleEndian(header[16..]);
        if (total != Length) Fail($"length is {Length} bytes but the header says {total} (truncated or extended)");
        long off = SnapshotFormat.HeaderSize;
        for (var i = 0; i < count; i++)
        {
            if (off + SnapshotFormat.SectionHeaderSize > Length - SnapshotFormat.TrailerSize) Fail($"section {i} header runs past the end");
            var sh = Bytes(off, SnapshotFormat.SectionHeaderSize);
            if (XxHash64.HashToUInt64(sh[..24]) != BinaryPrimitives.ReadUInt64LittleEndian(sh[24..])) Fail($"section {i} header checksum mismatch");
            var tag = BinaryPrimitives.ReadUInt32LittleEndian(sh);
            var len = BinaryPrimitives.ReadInt64LittleEndian(sh[8..]);
            var padded = SnapshotFormat.Align(len);
            var start = off + SnapshotFormat.SectionHeaderSize;
            if (len < 0 || start + padded > Length - SnapshotFormat.TrailerSize) Fail($"section {i} payload runs past the end");
            if (verifyPayloads)
            {
                var h = new XxHash64();
                for (long done = 0; done < padded;)
                {
                    var chunk = (int)Math.Min(1 << 30, padded - done);
                    h.Append(Bytes(start + done, chunk));
                    done += chunk;
                }
                if (h.GetCurrentHashAsUInt64() != BinaryPrimitives.ReadUInt64LittleEndian(sh[16..])) Fail($"section '{TagName(tag)}' checksum mismatch");
            }
            _sections[tag] = (start, len);
            off = start + padded;
        }
        if (off != Length - SnapshotFormat.TrailerSize) Fail("unexpected bytes after the last section");
        var trailer = Bytes(off, SnapshotFormat.TrailerSize);
        if (!trailer[..8].SequenceEqual(SnapshotFormat.EndMagic) || BinaryPrimitives.ReadInt64LittleEndian(trailer[8..]) != Length)
            Fail("bad trailer");
    }

    private static string TagName(uint tag)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, tag);
        return System.Text.Encoding.ASCII.GetString(b).TrimEnd();
    }

    private void Fail(string reason) => throw new SnapshotCorruptedException(Path, reason);

    public bool HasSection(string tag) => _sections.ContainsKey(SnapshotFormat.Tag(tag));

    /// <summary>Pointer and byte length of a section (valid until Dispose).</summary>
    public (IntPtr Pointer, long Length) Section(string tag)
    {
        if (!_sections.TryGetValue(SnapshotFormat.Tag(tag), out var s)) Fail($"missing section '{tag}'");
        // SAFETY: offsets were bounds-checked against the mapped length in Verify.
        return ((IntPtr)(_base + s.Offset), s.Length);
    }

    public ReadOnlySpan<T> Span<T>(string tag)
        where T : unmanaged
    {
        var (p, len) = Section(tag);
        if (len % sizeof(T) != 0) Fail($"section '{tag}' length {len} is not a multiple of {sizeof(T)}");
        // SAFETY: the section lies inside the map (checked in Verify) and is 64-byte aligned.
        return new ReadOnlySpan<T>((void*)p, checked((int)(len / sizeof(T))));
    }

    /// <summary>Copies a large section into <paramref name="destination"/> (which may exceed 2 GB of bytes in total).</summary>
    public void CopyTo<T>(string tag, T[] destination)
        where T : unmanaged
    {
        var (p, len) = Section(tag);
        if (len != (long)destination.Length * sizeof(T)) Fail($"section '{tag}' has {len} bytes, expected {(long)destination.Length * sizeof(T)}");
        fixed (T* d = destination)
        {
            // SAFETY: both ranges are len bytes long and do not overlap (one is the map, one a managed array).
            Buffer.MemoryCopy((void*)p, d, len, len);
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _mmf.Dispose();
    }
}
