using Microsoft.Extensions.Options;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.Serving;

namespace RecSys.Retrieval.Tests;

/// <summary>The shared-list reads: exact depths to the caller, lists read a little deeper for the cache.</summary>
[Collection(StoreCollection.Name)]
public sealed class SignalReaderCacheTests
{
    private readonly StoreFixture _store;

    public SignalReaderCacheTests(StoreFixture store)
    {
        _store = store;
        _store.Garnet.Flush();
    }

    [Fact]
    public async Task A_missed_list_is_read_deeper_for_the_cache_and_the_caller_gets_the_depth_it_asked()
    {
        var entries = Enumerable.Range(0, 200).Select(i => ($"i{i:D3}", 1000.0 - i)).ToArray();
        _store.Db.Zset(OnlineKeys.CategoryPopularity("jazz"), entries);
        var cache = new SharedReadCache(Options.Create(new SharedReadCacheOptions { ListDuration = TimeSpan.FromMinutes(5) }), TimeProvider.System);
        var reader = new CandidateSignalReader(_store.Garnet.Connection, cache);

        var first = (await reader.ReadCategoryPopularAsync([("jazz", 37)], CancellationToken.None))[0];
        Assert.Equal(entries.Take(37).Select(e => e.Item1), first.Select(m => m.Member));
        Assert.Equal(1, cache.Misses);

        // The store changes; a deeper read within the rounded depth (64) is still the cached list: no store read.
        _store.Garnet.Flush();
        var second = (await reader.ReadCategoryPopularAsync([("jazz", 50)], CancellationToken.None))[0];
        Assert.Equal(entries.Take(50).Select(e => e.Item1), second.Select(m => m.Member));
        Assert.Equal(1, cache.Hits);

        // Deeper than what was read: a miss, read from the (now empty) store.
        Assert.Empty((await reader.ReadCategoryPopularAsync([("jazz", 65)], CancellationToken.None))[0]);
        Assert.Equal(2, cache.Misses);
    }

    [Fact]
    public async Task Without_a_list_cache_the_depth_read_is_the_depth_asked()
    {
        var entries = Enumerable.Range(0, 100).Select(i => ($"c{i:D3}", 100.0 - i)).ToArray();
        _store.Db.Zset(OnlineKeys.CreatorItems("kim"), entries);
        var noLists = new SharedReadCache(Options.Create(new SharedReadCacheOptions { ListDuration = TimeSpan.Zero }), TimeProvider.System);
        foreach (var reader in new[] { new CandidateSignalReader(_store.Garnet.Connection), new CandidateSignalReader(_store.Garnet.Connection, noLists) })
        {
            var got = (await reader.ReadCreatorItemsAsync([("kim", 21)], CancellationToken.None))[0];
            Assert.Equal(entries.Take(21).Select(e => e.Item1), got.Select(m => m.Member));
        }
    }
}
