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

        // Every size and link is checked before anything is allocated or copied: the graph is walked through raw
        // pointers at search time, so a link to a node that does not exist would read outside the node block.
        var stride0 = 1 + (2 * options.M);
        var strideUpper = 1 + options.M;
        var vecs = r.Span<float>("VECS");
        var links0 = r.Span<int>("LNK0");
        var levels = r.Span<byte>("LEVL");
        var ids = r.Span<long>("IDS");
        var del = r.Span<ulong>("DELB");
        var upper = r.Span<int>("UPPR");
        if (vecs.Length != (long)used * options.Dimension || links0.Length != (long)used * stride0 || levels.Length != used || ids.Length != used || del.Length != (used + 63) >> 6)
            throw new SnapshotCorruptedException(path, "section sizes disagree with META");
        if (CheckGraph(used, entry, level, deleted, options.M, links0, levels, upper, del) is { } problem)
            throw new SnapshotCorruptedException(path, problem);

        var index = new HnswIndex(options with { InitialCapacity = Math.Max(16, used) });
        var s = index.Storage;
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
                var len = lv * strideUpper;
                s.Upper[i] = upper.Slice((int)at, len).ToArray();
                at += len;
            }
            if (!s.IsDeleted(i) && !map.TryAdd(s.Ids[i], i)) throw new SnapshotCorruptedException(path, $"id {s.Ids[i]} is live on two nodes");
        }
        index.RestoreState(used, used == 0 ? -1 : entry, used == 0 ? 0 : level, deleted, map);
        return index;
    }

    /// <summary>Null when the graph is consistent, else what is wrong: link counts, link targets, levels, entry point, deletions.</summary>
    private static string? CheckGraph(int used, int entry, int level, int deleted, int m, ReadOnlySpan<int> links0,
        ReadOnlySpan<byte> levels, ReadOnlySpan<int> upper, ReadOnlySpan<ulong> deletedBits)
    {
        var stride0 = 1 + (2 * m);
        var strideUpper = 1 + m;
        long upperLength = 0;
        for (var i = 0; i < used; i++)
        {
            if (levels[i] > HnswIndex.MaxLevel) return $"node {i} is on level {levels[i]}, above {HnswIndex.MaxLevel}";
            upperLength += levels[i] * strideUpper;
        }

        if (upperLength != upper.Length) return $"UPPR section has {upper.Length} links, the levels need {upperLength}";
        if (used > 0 && levels[entry] != level) return $"entry point {entry} is on level {levels[entry]}, META says {level}";

        long at = 0;
        for (var i = 0; i < used; i++)
        {
            if (CheckLinks(links0.Slice(i * stride0, stride0), 0, used, levels) is { } bad0) return $"node {i}, level 0: {bad0}";
            for (var l = 1; l <= levels[i]; l++)
            {
                if (CheckLinks(upper.Slice((int)at, strideUpper), l, used, levels) is { } bad) return $"node {i}, level {l}: {bad}";
                at += strideUpper;
            }
        }

        var marked = 0;
        for (var i = 0; i < deletedBits.Length; i++)
        {
            var bits = deletedBits[i];
            var valid = Math.Min(64, used - (i * 64));
            if (valid < 64 && (bits >> valid) != 0) return "DELB marks nodes past the last one";
            marked += System.Numerics.BitOperations.PopCount(bits);
        }

        return marked == deleted ? null : $"META counts {deleted} deleted nodes, DELB marks {marked}";
    }

    /// <summary>A link list is [count, targets...]: the count within the list, each target an existing node present on that level.</summary>
    private static string? CheckLinks(ReadOnlySpan<int> list, int level, int used, ReadOnlySpan<byte> levels)
    {
        var count = list[0];
        if (count < 0 || count > list.Length - 1) return $"{count} links in a list of {list.Length - 1}";
        foreach (var target in list.Slice(1, count))
        {
            if (target < 0 || target >= used) return $"link to node {target}, outside 0..{used - 1}";
            if (levels[target] < level) return $"link to node {target}, which is not on this level";
        }

        return null;
    }
}
