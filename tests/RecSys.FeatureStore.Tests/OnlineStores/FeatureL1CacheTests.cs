using RecSys.FeatureStore.OnlineStores;

namespace RecSys.FeatureStore.Tests.OnlineStores;

public sealed class FeatureL1CacheTests
{
    private static readonly FeatureValue One = new(1, null, null, false, false);

    [Fact]
    public void Entries_expire_after_the_ttl()
    {
        var time = new ManualTime(DateTimeOffset.UnixEpoch);
        var cache = new FeatureL1Cache(TimeSpan.FromSeconds(1), 10, time);
        cache.Set("user:u1", "f", One);
        Assert.True(cache.TryGet("user:u1", "f", out var value));
        Assert.Equal(One, value);
        Assert.False(cache.TryGet("user:u1", "g", out _));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(cache.TryGet("user:u1", "f", out _));
    }

    [Fact]
    public void The_size_bound_holds_and_expired_entries_make_room()
    {
        var time = new ManualTime(DateTimeOffset.UnixEpoch);
        var cache = new FeatureL1Cache(TimeSpan.FromSeconds(1), 3, time);
        for (var i = 0; i < 5; i++)
        {
            cache.Set($"item:i{i}", "f", One);
        }

        Assert.Equal(3, cache.Count);
        Assert.False(cache.TryGet("item:i4", "f", out _));
        cache.Set("item:i0", "f", One with { Number = 2 });
        Assert.True(cache.TryGet("item:i0", "f", out var updated));
        Assert.Equal(2, updated.Number);

        time.Advance(TimeSpan.FromSeconds(2));
        cache.Set("item:i9", "f", One);
        Assert.Equal(1, cache.Count);
        Assert.True(cache.TryGet("item:i9", "f", out _));
    }

    [Fact]
    public void A_zero_ttl_switches_the_cache_off()
    {
        Assert.False(new FeatureL1Cache(TimeSpan.Zero, 10, TimeProvider.System).Enabled);
        Assert.True(new FeatureL1Cache(TimeSpan.FromSeconds(1), 10, TimeProvider.System).Enabled);
    }
}
