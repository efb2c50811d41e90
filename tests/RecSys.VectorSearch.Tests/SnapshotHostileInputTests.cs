using System.Buffers.Binary;

namespace RecSys.VectorSearch.Tests;

/// <summary>
/// Regression tests for the snapshot loader, written with the snapshot fuzz target (fuzz/RecSys.Fuzz; the same inputs
/// are in fuzz/corpus/snapshot/regression-*): snapshots whose container checks all pass but whose content is hostile.
/// The old loader accepted them, leaving searches to read outside the node block, meet a null upper layer or size a
/// buffer by an absurd ef, or allocated without bound while loading; each must now be refused with
/// <see cref="SnapshotCorruptedException"/> naming the problem.
/// </summary>
public sealed class SnapshotHostileInputTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "rsvs-hostile-" + Guid.NewGuid().ToString("N"));

    public SnapshotHostileInputTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The sections of a valid 6-node snapshot (dimension 2, M 2, one node deleted), by tag.</summary>
    private Dictionary<string, byte[]> ValidSections()
    {
        var index = new HnswIndex(new HnswOptions { Dimension = 2, M = 2, EfConstruction = 4, EfSearch = 4, InitialCapacity = 8, Seed = 7 });
        for (var i = 0; i < 6; i++) index.Add(100 + i, [MathF.Cos(i), MathF.Sin(i)]);
        index.Delete(100);
        var path = Path.Combine(_dir, "valid.rsvs");
        HnswSnapshot.Save(index, path);
        using var reader = SnapshotReader.Open(path);
        return new[] { "META", "VECS", "LNK0", "LEVL", "UPPR", "IDS", "DELB" }
            .ToDictionary(tag => tag, tag => reader.Span<byte>(tag).ToArray());
    }

    /// <summary>Writes the sections as a well-formed container (right lengths and checksums) and loads it.</summary>
    private string Reason(Dictionary<string, byte[]> sections)
    {
        var path = Path.Combine(_dir, "hostile.rsvs");
        SnapshotFormat.Write(path, [.. sections.Select(s => SnapshotFormat.Section.Of(s.Key, s.Value, s.Value.Length))]);
        return Assert.Throws<SnapshotCorruptedException>(() => HnswSnapshot.Load(path)).Reason;
    }

    private static void SetMeta(Dictionary<string, byte[]> sections, int offset, int value) =>
        BinaryPrimitives.WriteInt32LittleEndian(sections["META"].AsSpan(offset), value);

    [Fact]
    public void A_link_to_a_node_that_does_not_exist_is_refused()
    {
        var sections = ValidSections();
        BinaryPrimitives.WriteInt32LittleEndian(sections["LNK0"].AsSpan(4), 1000);
        Assert.Contains("link to node 1000", Reason(sections), StringComparison.Ordinal);
    }

    [Fact]
    public void A_link_count_larger_than_the_list_is_refused()
    {
        var sections = ValidSections();
        BinaryPrimitives.WriteInt32LittleEndian(sections["LNK0"], 100);
        Assert.Contains("100 links", Reason(sections), StringComparison.Ordinal);
    }

    [Fact]
    public void An_upper_link_to_a_node_absent_from_that_level_is_refused()
    {
        var sections = ValidSections();
        var levels = sections["LEVL"];
        var low = Array.IndexOf(levels, (byte)0);
        var upper = sections["UPPR"];
        Assert.True(upper.Length >= 8, "the seed index has an upper layer");
        BinaryPrimitives.WriteInt32LittleEndian(upper, 1);
        BinaryPrimitives.WriteInt32LittleEndian(upper.AsSpan(4), low);
        Assert.Contains("not on this level", Reason(sections), StringComparison.Ordinal);
    }

    [Fact]
    public void An_entry_level_above_the_entry_node_is_refused()
    {
        var sections = ValidSections();
        SetMeta(sections, 32, 5);
        Assert.Contains("entry point", Reason(sections), StringComparison.Ordinal);
    }

    [Fact]
    public void A_deleted_count_that_disagrees_with_the_bitmap_is_refused()
    {
        var sections = ValidSections();
        SetMeta(sections, 36, 4);
        Assert.Contains("deleted", Reason(sections), StringComparison.Ordinal);
    }

    [Fact]
    public void A_huge_dimension_is_refused_before_anything_is_allocated()
    {
        var sections = ValidSections();
        SetMeta(sections, 0, 1 << 28);
        SetMeta(sections, 24, 0);
        SetMeta(sections, 28, -1);
        SetMeta(sections, 36, 0);
        foreach (var tag in new[] { "VECS", "LNK0", "LEVL", "UPPR", "IDS", "DELB" }) sections[tag] = [];
        Assert.Contains("invalid options", Reason(sections), StringComparison.Ordinal);
    }

    [Fact]
    public void A_huge_node_count_is_refused_before_anything_is_allocated()
    {
        var sections = ValidSections();
        SetMeta(sections, 24, 0x7FFF_FFF0);
        Assert.Contains("section sizes disagree", Reason(sections), StringComparison.Ordinal);
    }

    [Fact]
    public void A_huge_search_beam_is_refused()
    {
        var sections = ValidSections();
        SetMeta(sections, 16, int.MaxValue);
        Assert.Contains("invalid options", Reason(sections), StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_metric_is_refused()
    {
        var sections = ValidSections();
        SetMeta(sections, 4, 7);
        Assert.Contains("invalid options", Reason(sections), StringComparison.Ordinal);
    }

    [Fact]
    public void A_node_id_live_twice_is_refused()
    {
        var sections = ValidSections();
        var ids = sections["IDS"];
        ids.AsSpan(16, 8).CopyTo(ids.AsSpan(8, 8));
        Assert.Contains("live on two nodes", Reason(sections), StringComparison.Ordinal);
    }

    [Fact]
    public void Options_beyond_the_limits_are_refused_when_an_index_is_created()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new HnswIndex(new HnswOptions { Dimension = HnswOptions.MaxDimension + 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new HnswIndex(new HnswOptions { EfSearch = HnswOptions.MaxEf + 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new HnswIndex(new HnswOptions { Metric = (Metric)9 }));
    }
}
