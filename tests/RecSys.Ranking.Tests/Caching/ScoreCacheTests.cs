using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using RecSys.Ranking.Caching;

namespace RecSys.Ranking.Tests.Caching;

public sealed class ScoreCacheTests
{
    private static readonly ScoreCacheScope Scope = new("user-1", "ranker-v3", 42L);

    private static ScoreCache Cache(TimeProvider time, int maxEntries = 1000, TimeSpan? ttl = null, IMeterFactory? meters = null, bool enabled = true) =>
        new(Options.Create(new ScoreCacheOptions { MaxEntries = maxEntries, TimeToLive = ttl ?? TimeSpan.FromSeconds(30), Enabled = enabled }), time, meters);

    private static string[] Items(int count, string prefix = "item-") =>
        [.. Enumerable.Range(0, count).Select(i => prefix + i.ToString(System.Globalization.CultureInfo.InvariantCulture))];

    private static (float[] Scores, int[] Misses) Look(ScoreCache cache, ScoreCacheScope scope, string[] items)
    {
        var scores = new float[items.Length];
        var misses = new int[items.Length];
        var count = cache.Lookup(scope, items, scores, misses);
        return (scores, misses[..count]);
    }

    [Fact]
    public void A_batch_lookup_returns_the_hits_scores_and_the_misses_indices()
    {
        using var cache = Cache(new FakeTimeProvider());
        var items = Items(5);
        cache.Store(Scope, items, [1, 3], [0.25f, 0.75f]);

        var (scores, misses) = Look(cache, Scope, items);

        Assert.Equal([0, 2, 4], misses);
        Assert.Equal(0.25f, scores[1]);
        Assert.Equal(0.75f, scores[3]);
        Assert.True(float.IsNaN(scores[0]));
    }

    [Fact]
    public void Scores_expire_after_the_time_to_live()
    {
        var time = new FakeTimeProvider();
        using var cache = Cache(time, ttl: TimeSpan.FromSeconds(10));
        var items = Items(3);
        cache.Store(Scope, items, [1f, 2f, 3f]);

        time.Advance(TimeSpan.FromSeconds(10) - TimeSpan.FromMilliseconds(1));
        Assert.Empty(Look(cache, Scope, items).Misses);

        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal([0, 1, 2], Look(cache, Scope, items).Misses);
    }

    [Fact]
    public void Storing_again_renews_the_time_to_live()
    {
        var time = new FakeTimeProvider();
        using var cache = Cache(time, ttl: TimeSpan.FromSeconds(10));
        string[] items = ["a"];
        cache.Store(Scope, items, [1f]);
        time.Advance(TimeSpan.FromSeconds(8));
        cache.Store(Scope, items, [2f]);
        time.Advance(TimeSpan.FromSeconds(8));

        var (scores, misses) = Look(cache, Scope, items);

        Assert.Empty(misses);
        Assert.Equal(2f, scores[0]);
    }

    [Fact]
    public void Every_part_of_the_key_separates_scores()
    {
        using var cache = Cache(new FakeTimeProvider());
        string[] items = ["a"];
        cache.Store(Scope, items, [1f]);

        Assert.Single(Look(cache, new ScoreCacheScope("user-2", "ranker-v3", 42L), items).Misses);
        Assert.Single(Look(cache, new ScoreCacheScope("user-1", "ranker-v4", 42L), items).Misses);
        Assert.Single(Look(cache, new ScoreCacheScope("user-1", "ranker-v3", 43L), items).Misses);
        Assert.Single(Look(cache, Scope, ["b"]).Misses);
        Assert.Empty(Look(cache, new ScoreCacheScope("user-1", "ranker-v3", "42"), items).Misses);
    }

    [Fact]
    public void The_cache_never_holds_more_than_its_entry_bound()
    {
        using var cache = Cache(new FakeTimeProvider(), maxEntries: 64);
        for (var round = 0; round < 20; round++)
        {
            var items = Items(50, $"r{round}-");
            cache.Store(Scope, items, new float[50]);
            Assert.True(cache.Count <= 64, $"{cache.Count} entries after round {round}");
        }

        Assert.Equal(64, cache.Count);
    }

    [Fact]
    public void Eviction_spares_entries_hit_since_the_hand_last_passed()
    {
        // 16 entries make one shard, so the CLOCK order is the insertion order.
        using var cache = Cache(new FakeTimeProvider(), maxEntries: 16);
        var first = Items(16);
        cache.Store(Scope, first, new float[16]);
        var recent = first[..8];
        Assert.Empty(Look(cache, Scope, recent).Misses);

        cache.Store(Scope, Items(8, "new-"), new float[8]);

        Assert.Empty(Look(cache, Scope, recent).Misses);
        Assert.Equal(8, Look(cache, Scope, first[8..]).Misses.Length);
    }

    [Fact]
    public void Expired_entries_are_evicted_before_live_ones()
    {
        var time = new FakeTimeProvider();
        using var cache = Cache(time, maxEntries: 16, ttl: TimeSpan.FromSeconds(10));
        var old = Items(8, "old-");
        cache.Store(Scope, old, new float[8]);
        time.Advance(TimeSpan.FromSeconds(5));
        var live = Items(8, "live-");
        cache.Store(Scope, live, new float[8]);
        time.Advance(TimeSpan.FromSeconds(6));

        cache.Store(Scope, Items(8, "new-"), new float[8]);

        Assert.Empty(Look(cache, Scope, live).Misses);
        Assert.Equal(16, cache.Count);
    }

    [Theory]
    [InlineData(1, 16)]
    [InlineData(2, 24)]
    [InlineData(3, 31)]
    public void One_shard_serves_and_evicts_as_a_clock_over_its_slots(int seed, int maxEntries)
    {
        // Up to 31 entries make one shard, so a plain CLOCK over the slots in insertion order is the whole expected behaviour.
        var random = new Random(seed);
        var time = new FakeTimeProvider();
        using var cache = Cache(time, maxEntries: maxEntries, ttl: TimeSpan.FromSeconds(10));
        var expected = new ClockModel(maxEntries);
        ScoreCacheScope[] scopes = [Scope, new("user-2", "ranker-v3", 42L), new("user-1", "ranker-v4", 42L)];
        var universe = Items(40);
        for (var step = 0; step < 3_000; step++)
        {
            var scope = scopes[random.Next(scopes.Length)];
            string[] batch = [.. Enumerable.Range(0, 1 + random.Next(12)).Select(_ => universe[random.Next(universe.Length)])];
            var now = time.GetUtcNow().Ticks;
            switch (random.Next(3))
            {
                case 0:
                    var scores = batch.Select(_ => (float)random.Next(1000)).ToArray();
                    cache.Store(scope, batch, scores);
                    for (var k = 0; k < batch.Length; k++)
                    {
                        expected.Set((scope, batch[k]), scores[k], now, now + TimeSpan.FromSeconds(10).Ticks);
                    }

                    break;
                case 1:
                    var (got, misses) = Look(cache, scope, batch);
                    var expectedMisses = new List<int>();
                    for (var k = 0; k < batch.Length; k++)
                    {
                        if (expected.TryGet((scope, batch[k]), now, out var score))
                        {
                            Assert.Equal(score, got[k]);
                        }
                        else
                        {
                            expectedMisses.Add(k);
                        }
                    }

                    Assert.Equal(expectedMisses, misses);
                    break;
                default:
                    time.Advance(TimeSpan.FromMilliseconds(random.Next(3_000)));
                    break;
            }

            Assert.Equal(expected.Count, cache.Count);
        }
    }

    [Fact]
    public void Many_shards_keep_every_score_while_under_the_bound()
    {
        using var cache = Cache(new FakeTimeProvider(), maxEntries: 50_000);
        var random = new Random(7);
        var universe = Items(8_000);
        var stored = new Dictionary<string, float>(StringComparer.Ordinal);
        for (var round = 0; round < 40; round++)
        {
            string[] batch = [.. Enumerable.Range(0, 1 + random.Next(1_500)).Select(_ => universe[random.Next(universe.Length)]).Distinct()];
            var scores = batch.Select(_ => (float)random.NextDouble()).ToArray();
            cache.Store(Scope, batch, scores);
            for (var k = 0; k < batch.Length; k++)
            {
                stored[batch[k]] = scores[k];
            }
        }

        var (got, misses) = Look(cache, Scope, universe);
        Assert.Equal(stored.Count, cache.Count);
        Assert.Equal(universe.Length - stored.Count, misses.Length);
        for (var i = 0; i < universe.Length; i++)
        {
            Assert.Equal(stored.TryGetValue(universe[i], out var score) ? score : float.NaN, got[i]);
        }
    }

    /// <summary>The cache's documented behaviour for one shard, written plainly: slots in insertion order, a CLOCK hand over them.</summary>
    private sealed class ClockModel(int capacity)
    {
        private readonly List<((ScoreCacheScope, string) Key, float Score, long Expires, bool Referenced)> _slots = [];
        private int _hand;

        public int Count => _slots.Count;

        public bool TryGet((ScoreCacheScope, string) key, long now, out float score)
        {
            var slot = _slots.FindIndex(s => s.Key == key);
            if (slot >= 0 && _slots[slot].Expires > now)
            {
                _slots[slot] = _slots[slot] with { Referenced = true };
                score = _slots[slot].Score;
                return true;
            }

            score = float.NaN;
            return false;
        }

        public void Set((ScoreCacheScope, string) key, float score, long now, long expires)
        {
            var slot = _slots.FindIndex(s => s.Key == key);
            if (slot >= 0)
            {
                _slots[slot] = _slots[slot] with { Score = score, Expires = expires };
                return;
            }

            if (_slots.Count < capacity)
            {
                _slots.Add((key, score, expires, false));
                return;
            }

            while (true)
            {
                var victim = _hand;
                _hand = (_hand + 1) % capacity;
                if (_slots[victim].Expires <= now || !_slots[victim].Referenced)
                {
                    _slots[victim] = (key, score, expires, false);
                    return;
                }

                _slots[victim] = _slots[victim] with { Referenced = false };
            }
        }
    }

    [Fact]
    public void The_hit_ratio_and_lookup_counters_are_published()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        using var cache = Cache(new FakeTimeProvider(), meters: factory);
        long hits = 0, misses = 0;
        double ratio = -1;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Meter.Name == "RecSys.Ranking")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (instrument.Name == "recsys.score_cache.lookups")
            {
                var result = tags.ToArray().Single(t => t.Key == "recsys.score_cache.result").Value as string;
                if (result == "hit")
                {
                    hits += value;
                }
                else
                {
                    misses += value;
                }
            }
        });
        listener.SetMeasurementEventCallback<double>((instrument, value, _, _) =>
        {
            if (instrument.Name == "recsys.score_cache.hit_ratio")
            {
                ratio = value;
            }
        });
        listener.Start();

        var items = Items(4);
        Look(cache, Scope, items);
        cache.Store(Scope, items, [1f, 2f, 3f, 4f]);
        Look(cache, Scope, [.. items, "x", "y"]);
        listener.RecordObservableInstruments();

        Assert.Equal(4, hits);
        Assert.Equal(6, misses);
        Assert.Equal(0.4, ratio, 1e-12);
        Assert.Equal(new ScoreCacheStatistics(4, 6, 0.4, 4), cache.Statistics);
    }

    [Fact]
    public async Task Concurrent_requests_read_only_the_scores_stored_for_their_keys()
    {
        using var cache = Cache(TimeProvider.System, maxEntries: 256);
        var catalog = Items(1000);
        static float ScoreOf(string item, int user) => (item.GetHashCode(StringComparison.Ordinal) % 1000) + (user * 10_000);

        var workers = Enumerable.Range(0, 4).Select(worker => Task.Run(() =>
        {
            var random = new Random(worker);
            for (var request = 0; request < 300; request++)
            {
                var user = random.Next(3);
                var scope = new ScoreCacheScope($"user-{user}", "ranker-v3", 1L);
                var items = Enumerable.Range(0, 50).Select(_ => catalog[random.Next(catalog.Length)]).Distinct().ToArray();
                var scores = new float[items.Length];
                var missIndices = new int[items.Length];
                var missCount = cache.Lookup(scope, items, scores, missIndices);
                var missed = missIndices.AsSpan(0, missCount);
                for (var i = 0; i < items.Length; i++)
                {
                    if (!missed.Contains(i) && scores[i] != ScoreOf(items[i], user))
                    {
                        throw new InvalidOperationException($"{items[i]} of user {user} read {scores[i]}");
                    }
                }

                var fresh = new float[missCount];
                for (var k = 0; k < missCount; k++)
                {
                    fresh[k] = ScoreOf(items[missed[k]], user);
                }

                cache.Store(scope, items, missed, fresh);
            }
        })).ToArray();

        await Task.WhenAll(workers);

        Assert.InRange(cache.Count, 1, 256);
        Assert.True(cache.Statistics.Hits > 0);
    }

    [Fact]
    public void A_disabled_cache_misses_everything_and_stores_nothing()
    {
        using var cache = Cache(new FakeTimeProvider(), enabled: false);
        var items = Items(3);
        cache.Store(Scope, items, [1f, 2f, 3f]);

        Assert.Equal([0, 1, 2], Look(cache, Scope, items).Misses);
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void Bad_input_is_refused_with_an_argument_error()
    {
        using var cache = Cache(new FakeTimeProvider());
        string[] items = ["a", "b"];

        Assert.Throws<ArgumentException>(() => cache.Lookup(default, items, new float[2], new int[2]));
        Assert.Throws<ArgumentException>(() => cache.Lookup(Scope, items, new float[1], new int[2]));
        Assert.Throws<ArgumentException>(() => cache.Store(Scope, items, [1f, float.NaN]));
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.Store(Scope, items, [2], [1f]));
        Assert.Throws<ArgumentException>(() => cache.Store(Scope, ["a", ""], [1f, 2f]));
        Assert.Throws<ArgumentException>(() => new ScoreCacheScope("", "v", 1L));
    }

    [Fact]
    public void Invalid_options_are_refused()
    {
        var result = new ScoreCacheOptionsValidator().Validate(null, new ScoreCacheOptions { TimeToLive = TimeSpan.Zero, MaxEntries = 1 });

        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.Contains(nameof(ScoreCacheOptions.TimeToLive), StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.Contains(nameof(ScoreCacheOptions.MaxEntries), StringComparison.Ordinal));
        Assert.Throws<ArgumentException>(() => Cache(new FakeTimeProvider(), maxEntries: 1));
    }
}
