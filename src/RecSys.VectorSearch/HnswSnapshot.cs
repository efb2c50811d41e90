using System.Buffers.Binary;

namespace RecSys.VectorSearch;

/// <summary>Saves and loads an <see cref="HnswIndex"/> in the <see cref="SnapshotFormat"/> container.</summary>
public static unsafe class HnswSnapshot
{
    private const int MetaSize = 64;

    /// <summary>Writes a consistent snapshot (writers are paused for the copy; searches continue).</summary>
    public static void Save(HnswIndex index, string path)
    {
        ArgumentNullException.ThrowIfNull(index);
        index.WithWritersPaused(() =>
        {
            var s = index.Storage;
            var used = index.UsedNodes;
            var (entry, level) = index.EntryPoint;
            var o = index.Options;
            var meta = new byte[MetaSize];
            var m = meta.AsSpan();
            BinaryPrimitives.WriteInt32LittleEndian(m, o.Dimension);
            BinaryPrimitives.WriteInt32LittleEndian(m[4..], (int)o.Metric);
            BinaryPrimitives.WriteInt32LittleEndian(m[8..], o.M);
            BinaryPrimitives.WriteInt32LittleEndian(m[12..], o.EfConstruction);
            BinaryPrimitives.WriteInt32LittleEndian(m[16..], o.EfSearch);
            BinaryPrimitives.WriteInt32LittleEndian(m[20..], o.Seed);
            BinaryPrimitives.WriteInt32LittleEndian(m[24..], used);
            BinaryPrimitives.WriteInt32LittleEndian(m[28..], entry);
            BinaryPrimitives.WriteInt32LittleEndian(m[32..], level);
            BinaryPrimitives.WriteInt32LittleEndian(m[36..], index.DeletedCount);

            long upperLen = 0;
            for (var i = 0; i < used; i++) upperLen += s.Levels[i] * s.StrideUpper;
            var upper = new int[upperLen];
            long at = 0;
            for (var i = 0; i < used; i++)
            {
                if (s.Upper[i] is not { } u) continue;
                u.CopyTo(upper, at);
                at += u.Length;
            }
            var sections = new List<SnapshotFormat.Section>
            {
                SnapshotFormat.Section.Of("META", meta, meta.Length),
                PerNode("VECS", s, used, s.Dim * sizeof(float), i => (nint)s.Vector(i)),
                PerNode("LNK0", s, used, s.Stride0 * sizeof(int), i => (nint)s.Links0(i)),
                SnapshotFormat.Section.Of("LEVL", s.Levels, used),
                SnapshotFormat.Section.Of("UPPR", upper, upper.Length),
                SnapshotFormat.Section.Of("IDS", s.Ids, used),
                SnapshotFormat.Section.Of("DELB", s.Deleted, (used + 63) >> 6),
            };
            SnapshotFormat.Write(path, sections);
        });
    }

    /// <summary>A section made of one fixed-size record per node, read straight from the node blocks.</summary>
    private static unsafe SnapshotFormat.Section PerNode(string tag, HnswStorage s, int used, int recordBytes, Func<int, nint> address) =>
        new(SnapshotFormat.Tag(tag), (long)used * recordBytes, sink =>
        {
            for (var i = 0; i < used; i++)
                // SAFETY: address(i) points at recordBytes valid bytes of node i (< used <= Capacity) in s, kept alive below.
                sink(new ReadOnlySpan<byte>((void*)address(i), recordBytes));
            GC.KeepAlive(s);
        });

    /// <summary>Maps, verifies every checksum and loads. Throws <see cref="SnapshotCorruptedException"/> on any damage.</summary>
    public static HnswIndex Load(string path)
    {
        using var r = SnapshotReader.Open(path);
        var m = r.Span<byte>("META");
        if (m.Length != MetaSize) throw new SnapshotCorruptedException(path, "META section has the wrong size");
        var options = new HnswOptions
        {
            Dimension = BinaryPrimitives.ReadInt32LittleEndian(m),
            Metric = (Metric)BinaryPrimitives.ReadInt32LittleEndian(m[4..]),
            M = BinaryPrimitives.ReadInt32LittleEndian(m[8..]),
            EfConstruction = BinaryPrimitives.ReadInt32LittleEndian(m[12..]),
            EfSearch = BinaryPrimitives.ReadInt32LittleEndian(m[16..]),
            Seed = BinaryPrimitives.ReadInt32LittleEndian(m[20..]),
        };
        var used = BinaryPrimitives.ReadInt32LittleEndian(m[24..]);
        var entry = BinaryPrimitives.ReadInt32LittleEndian(m[28..]);
        var level = BinaryPrimitives.ReadInt32LittleEndian(m[32..]);
        var deleted = BinaryPrimitives.ReadInt32LittleEndian(m[36..]);
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            throw new SnapshotCorruptedException(path, "invalid options: " + e.Message);
        }
        if (used < 0 || entry >= used || (used > 0 && entry < 0)) throw new SnapshotCorruptedException(path, "entry point out of range");

        var index = new HnswIndex(options with { InitialCapacity = Math.Max(16, used) });
        var s = index.Storage;
        var vecs = r.Span<float>("VECS");
        var links0 = r.Span<int>("LNK0");
        var levels = r.Span<byte>("LEVL");
        var ids = r.Span<long>("IDS");
        var del = r.Span<ulong>("DELB");
        var upper = r.Span<int>("UPPR");
        if (vecs.Length != (long)used * options.Dimension || links0.Length != used * s.Stride0 || levels.Length != used || ids.Length != used || del.Length != (used + 63) >> 6)
            throw new SnapshotCorruptedException(path, "section sizes disagree with META");
        for (var i = 0; i < used; i++)
        {
            vecs.Slice(i * options.Dimension, options.Dimension).CopyTo(new Span<float>(s.Vector(i), options.Dimension));
            links0.Slice(i * s.Stride0, s.Stride0).CopyTo(new Span<int>(s.Links0(i), s.Stride0));
        }
        levels.CopyTo(s.Levels);
        ids.CopyTo(s.Ids);
        del.CopyTo(s.Deleted);
        var map = new Dictionary<long, int>(used);
        long at = 0;
        for (var i = 0; i < used; i++)
        {
            var lv = s.Levels[i];
            if (lv > 0)
            {
                var len = lv * s.StrideUpper;
                if (at + len > upper.Length) throw new SnapshotCorruptedException(path, "UPPR section too short");
                s.Upper[i] = upper.Slice((int)at, len).ToArray();
                at += len;
            }
            if (!s.IsDeleted(i)) map[s.Ids[i]] = i;
        }
        if (at != upper.Length) throw new SnapshotCorruptedException(path, "UPPR section too long");
        index.RestoreState(used, used == 0 ? -1 : entry, used == 0 ? 0 : level, deleted, map);
        return index;
    }
}
