using System.Buffers.Binary;
using System.IO.Hashing;
using RecSys.VectorSearch;

namespace RecSys.Fuzz.Targets;

/// <summary>
/// The vector-index snapshot loader, through <see cref="SnapshotStore.LoadLatest"/>. The first byte picks the mode:
/// even, the rest is the snapshot file as is (exercising the container checks); odd, the rest is a list of sections
/// (4-byte tag, u16 length, payload) that the harness seals into a container with correct lengths and checksums, so
/// the fuzzer reaches the index loader behind them. An index that loads must answer a query without failing.
/// </summary>
internal sealed class SnapshotTarget(Scratch scratch) : IFuzzTarget
{
    private readonly SnapshotStore _store = new(scratch.Folder("snapshots"));

    public string Name => "snapshot";

    public string Description => "SnapshotFormat, SnapshotStore, HnswSnapshot";

    public void Run(ReadOnlySpan<byte> input)
    {
        if (input.IsEmpty)
        {
            return;
        }

        var file = (input[0] & 1) == 0 ? input[1..].ToArray() : Seal(input[1..]);
        Scratch.Put(_store.PathOf(1), file);
        SnapshotLoadResult loaded;
        try
        {
            loaded = _store.LoadLatest();
        }
        catch (SnapshotCorruptedException)
        {
            return;
        }

        var index = loaded.Index;
        var query = new float[index.Options.Dimension];
        query.AsSpan().Fill(0.5f);
        var hits = index.Search(query, 5);
        if (hits.Length > Math.Min(5, index.Count))
        {
            throw new InvalidOperationException($"A search for 5 returned {hits.Length} hits from {index.Count} nodes.");
        }
    }

    /// <summary>Builds a well-formed container (header, sections, trailer; every length and checksum right) around the sections.</summary>
    public static byte[] Seal(ReadOnlySpan<byte> encoded)
    {
        var sections = new List<(uint Tag, byte[] Payload)>();
        while (encoded.Length >= 6)
        {
            var tag = BinaryPrimitives.ReadUInt32LittleEndian(encoded);
            var length = Math.Min(BinaryPrimitives.ReadUInt16LittleEndian(encoded[4..]), encoded.Length - 6);
            sections.Add((tag, encoded.Slice(6, length).ToArray()));
            encoded = encoded[(6 + length)..];
        }

        return Container(sections);
    }

    /// <summary>The inverse of <see cref="Seal"/>'s decoding, used to make seeds from a real snapshot's sections.</summary>
    public static byte[] Encode(IEnumerable<(uint Tag, byte[] Payload)> sections)
    {
        using var buffer = new MemoryStream();
        buffer.WriteByte(1);
        Span<byte> head = stackalloc byte[6];
        foreach (var (tag, payload) in sections)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(head, tag);
            BinaryPrimitives.WriteUInt16LittleEndian(head[4..], checked((ushort)payload.Length));
            buffer.Write(head);
            buffer.Write(payload);
        }

        return buffer.ToArray();
    }

    /// <summary>The sections of a well-formed container (no checks: the seed generator reads snapshots it just wrote).</summary>
    public static List<(uint Tag, byte[] Payload)> Sections(byte[] file)
    {
        var count = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(12));
        var result = new List<(uint, byte[])>();
        var offset = 64;
        for (var i = 0; i < count; i++)
        {
            var tag = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(offset));
            var length = (int)BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(offset + 8));
            result.Add((tag, file.AsSpan(offset + 32, length).ToArray()));
            offset += 32 + Align(length);
        }

        return result;
    }

    private static byte[] Container(List<(uint Tag, byte[] Payload)> sections)
    {
        var total = 64 + 16 + sections.Sum(s => 32 + Align(s.Payload.Length));
        var file = new byte[total];
        var span = file.AsSpan();
        "RSVSNAP\0"u8.CopyTo(span);
        BinaryPrimitives.WriteUInt32LittleEndian(span[8..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(span[12..], (uint)sections.Count);
        BinaryPrimitives.WriteInt64LittleEndian(span[16..], total);
        BinaryPrimitives.WriteUInt64LittleEndian(span[24..], XxHash64.HashToUInt64(span[..64]));
        var offset = 64;
        foreach (var (tag, payload) in sections)
        {
            var header = span.Slice(offset, 32);
            var padded = Align(payload.Length);
            payload.CopyTo(span[(offset + 32)..]);
            BinaryPrimitives.WriteUInt32LittleEndian(header, tag);
            BinaryPrimitives.WriteInt64LittleEndian(header[8..], payload.Length);
            BinaryPrimitives.WriteUInt64LittleEndian(header[16..], XxHash64.HashToUInt64(span.Slice(offset + 32, padded)));
            BinaryPrimitives.WriteUInt64LittleEndian(header[24..], XxHash64.HashToUInt64(header[..24]));
            offset += 32 + padded;
        }

        "RSVSEND\0"u8.CopyTo(span[offset..]);
        BinaryPrimitives.WriteInt64LittleEndian(span[(offset + 8)..], total);
        return file;
    }

    private static int Align(int n) => (n + 63) & ~63;
}
