namespace RecSys.VectorSearch.Tests;

public sealed class SnapshotTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "rsvs-test-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static (HnswIndex index, float[] data) MakeIndex(int seed, int n = 1500)
    {
        var data = TestData.Embeddings(n, 32, seed);
        var index = TestData.Build(data, 32, Metric.Cosine);
        for (long i = 0; i < n; i += 10) index.Delete(i);
        return (index, data);
    }

    [Fact]
    public void Round_trip_gives_identical_search_results()
    {
        var (index, data) = MakeIndex(21);
        Directory.CreateDirectory(_dir);
        var path = Path.Combine(_dir, "a.rsvs");
        HnswSnapshot.Save(index, path);
        var loaded = HnswSnapshot.Load(path);
        Assert.Equal(index.Count, loaded.Count);
        Assert.Equal(index.NodeCount, loaded.NodeCount);
        Assert.Equal(index.DeletedCount, loaded.DeletedCount);
        Assert.Equal(index.Options, loaded.Options with { InitialCapacity = index.Options.InitialCapacity });
        for (var q = 0; q < 100; q++)
        {
            var query = data.AsSpan(q * 32, 32);
            Assert.Equal(index.Search(query, 10, ef: 50), loaded.Search(query, 10, ef: 50));
        }
        // The loaded index keeps accepting writes.
        loaded.Add(99_999, data.AsSpan(0, 32));
        Assert.Equal(99_999, loaded.Search(data.AsSpan(0, 32), 1)[0].Id);
    }

    [Fact]
    public void Flipped_bytes_anywhere_and_truncation_are_rejected()
    {
        var (index, _) = MakeIndex(22, n: 300);
        Directory.CreateDirectory(_dir);
        var path = Path.Combine(_dir, "b.rsvs");
        HnswSnapshot.Save(index, path);
        var original = File.ReadAllBytes(path);
        var rng = new Random(5);
        var positions = new List<int> { 0, 9, 20, 30, 63, 64, 70, 100, original.Length - 1, original.Length - 9 };
        for (var i = 0; i < 30; i++) positions.Add(rng.Next(original.Length));
        foreach (var pos in positions)
        {
            var bad = (byte[])original.Clone();
            bad[pos] ^= (byte)(1 << rng.Next(8));
            File.WriteAllBytes(path, bad);
            Assert.Throws<SnapshotCorruptedException>(() => HnswSnapshot.Load(path));
        }
        foreach (var len in new[] { 0, 10, 64, original.Length / 2, original.Length - 1 })
        {
            File.WriteAllBytes(path, original.AsSpan(0, len).ToArray());
            var e = Assert.Throws<SnapshotCorruptedException>(() => HnswSnapshot.Load(path));
            Assert.Contains(path, e.Message, StringComparison.Ordinal);
        }
        File.WriteAllBytes(path, original);
        Assert.Equal(index.Count, HnswSnapshot.Load(path).Count);
    }

    [Fact]
    public void Store_falls_back_to_previous_snapshot_when_newest_is_corrupt()
    {
        var store = new SnapshotStore(_dir, retain: 2);
        var (v1Index, data) = MakeIndex(23, n: 400);
        Assert.Equal(1, store.Save(v1Index));
        v1Index.Add(50_000, data.AsSpan(0, 32));
        Assert.Equal(2, store.Save(v1Index));
        v1Index.Add(50_001, data.AsSpan(32, 32));
        Assert.Equal(3, store.Save(v1Index));
        Assert.Equal([3L, 2L], store.List().Select(x => x.Version));

        var ok = store.LoadLatest();
        Assert.False(ok.RolledBack);
        Assert.Equal(3, ok.Version);
        Assert.True(ok.Index.Contains(50_001));

        // Flip a byte in the newest: the store rolls back to version 2.
        var newest = store.PathOf(3);
        var bytes = File.ReadAllBytes(newest);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(newest, bytes);
        var rolled = store.LoadLatest();
        Assert.True(rolled.RolledBack);
        Assert.Equal(2, rolled.Version);
        Assert.True(rolled.Index.Contains(50_000));
        Assert.False(rolled.Index.Contains(50_001));
        Assert.Single(rolled.Rejected);

        // Truncate the previous one too: nothing verifies.
        var prev = store.PathOf(2);
        File.WriteAllBytes(prev, File.ReadAllBytes(prev).AsSpan(0, 100).ToArray());
        Assert.Throws<SnapshotCorruptedException>(() => store.LoadLatest());
    }

    [Fact]
    public async Task Shard_round_trips_through_the_store()
    {
        var data = TestData.Embeddings(300, 32, seed: 24);
        var shard = new LocalVectorShard(3, new HnswOptions { Dimension = 32, EfConstruction = 50 });
        await shard.UpsertAsync(Enumerable.Range(0, 300).Select(i => (long)i).ToArray(), data);
        var store = new SnapshotStore(_dir);
        Assert.Equal(1, shard.SaveSnapshot(store));
        var (restored, load) = LocalVectorShard.FromSnapshot(3, store);
        Assert.False(load.RolledBack);
        Assert.Equal(300, await restored.CountAsync());
        var q = data.AsMemory(5 * 32, 32);
        var req = new ShardSearchRequest(10, 40);
        Assert.Equal((await shard.SearchAsync(q, req)).Hits, (await restored.SearchAsync(q, req)).Hits);
    }
}
