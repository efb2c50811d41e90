using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using System.Text;
using RecSys.FeatureStore.Serving;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>
/// The companion of a shard snapshot <c>index-{v}.rsvs</c>: <c>items-{v}.rsim</c> maps the engine's longs back to item ids and
/// keeps their filter metadata and the index version. Layout: magic "RSIM", format (int32), index version (int64), count
/// (int32), entries, then the XxHash64 of everything before it; a mismatch rejects the snapshot pair.
/// </summary>
internal static class ItemMapFile
{
    private const uint Magic = 0x4D495352; // "RSIM" little-endian
    private const int Format = 1;

    public static string PathOf(string directory, long snapshotVersion) =>
        Path.Combine(directory, "items-" + snapshotVersion.ToString("D10", CultureInfo.InvariantCulture) + ".rsim");

    public static void Write(string path, long indexVersion, IReadOnlyCollection<KeyValuePair<long, IndexedItem>> entries)
    {
        using var body = new MemoryStream();
        using (var w = new BinaryWriter(body, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(Format);
            w.Write(indexVersion);
            w.Write(entries.Count);
            foreach (var (key, item) in entries)
            {
                w.Write(key);
                w.Write(item.ItemId);
                var meta = item.Metadata;
                w.Write(meta is not null);
                if (meta is null)
                {
                    continue;
                }

                w.Write(meta.Creator ?? string.Empty);
                w.Write(meta.Categories.Count);
                foreach (var c in meta.Categories)
                {
                    w.Write(c);
                }

                w.Write(meta.Available);
            }
        }

        var hash = XxHash64.HashToUInt64(body.GetBuffer().AsSpan(0, (int)body.Length));
        Span<byte> trailer = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(trailer, hash);
        var tmp = path + ".tmp";
        using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            f.Write(body.GetBuffer().AsSpan(0, (int)body.Length));
            f.Write(trailer);
            f.Flush(flushToDisk: true);
        }

        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Reads and verifies a file; throws <see cref="InvalidDataException"/> when it is corrupt or truncated.</summary>
    public static (long IndexVersion, List<KeyValuePair<long, IndexedItem>> Entries) Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 28)
        {
            throw new InvalidDataException($"'{path}' is truncated ({bytes.Length} bytes).");
        }

        var expected = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(bytes.Length - 8));
        if (XxHash64.HashToUInt64(bytes.AsSpan(0, bytes.Length - 8)) != expected)
        {
            throw new InvalidDataException($"'{path}' fails its checksum.");
        }

        using var r = new BinaryReader(new MemoryStream(bytes, 0, bytes.Length - 8), Encoding.UTF8);
        if (r.ReadUInt32() != Magic || r.ReadInt32() != Format)
        {
            throw new InvalidDataException($"'{path}' is not an item map of format {Format}.");
        }

        var version = r.ReadInt64();
        var count = r.ReadInt32();
        var entries = new List<KeyValuePair<long, IndexedItem>>(count);
        for (var i = 0; i < count; i++)
        {
            var key = r.ReadInt64();
            var id = r.ReadString();
            ItemMetadata? meta = null;
            if (r.ReadBoolean())
            {
                var creator = r.ReadString();
                var cats = new string[r.ReadInt32()];
                for (var c = 0; c < cats.Length; c++)
                {
                    cats[c] = r.ReadString();
                }

                meta = new ItemMetadata(creator.Length == 0 ? null : creator, cats, r.ReadBoolean());
            }

            entries.Add(new KeyValuePair<long, IndexedItem>(key, new IndexedItem(id, meta)));
        }

        return (version, entries);
    }
}
