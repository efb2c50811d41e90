using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RecSys.Candidates;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.Serving;
using RecSys.Retrieval.Diagnostics;
using RecSys.Retrieval.Services;
using RecSys.Retrieval.Sources;
using RecSys.TestSupport;
using StackExchange.Redis;

namespace RecSys.Retrieval.Tests;

[Collection(StoreCollection.Name)]
public sealed class RetrieverTests
{
    private readonly StoreFixture _store;

    public RetrieverTests(StoreFixture store)
    {
        _store = store;
        _store.Garnet.Flush();
    }

    private static IReadOnlySet<string> NoExclude => new HashSet<string>();

    /// <summary>Timeouts no loaded test machine reaches: these tests are about results, not latency.</summary>
    private static RetrievalOptions Relaxed(RetrievalOptions options)
    {
        options.SourceTimeout = TimeSpan.FromMilliseconds(10_000);
        options.FilterTimeout = TimeSpan.FromMilliseconds(10_000);
        return options;
    }

    [Fact]
    public async Task A_source_that_throws_or_hangs_is_reported_degraded_and_the_rest_is_returned()
    {
        var options = new RetrievalOptions { SourceTimeout = TimeSpan.FromMilliseconds(50), FilterTimeout = TimeSpan.FromMilliseconds(10_000), BackfillSource = null };
        var retriever = _store.Retriever(
            options,
            FakeSource.Listing(SourceNames.Trending, "t1", "t2", "t3"),
            FakeSource.Throwing(SourceNames.Content),
            FakeSource.Hanging(SourceNames.RecentSimilar),
            FakeSource.Listing(SourceNames.Creator, "c1", "t2"));

        var response = await retriever.RetrieveAsync("u1", null, 100, NoExclude, CancellationToken.None);

        Assert.Equal([SourceNames.Content, SourceNames.RecentSimilar], response.Degraded);
        var reports = response.Sources.ToDictionary(r => r.Source);
        Assert.True(reports[SourceNames.Content].Failed);
        Assert.Contains("content is down", reports[SourceNames.Content].Error, StringComparison.Ordinal);
        Assert.True(reports[SourceNames.RecentSimilar].Failed);
        Assert.Contains("timed out", reports[SourceNames.RecentSimilar].Error, StringComparison.Ordinal);
        Assert.False(reports[SourceNames.Trending].Failed);
        Assert.Equal(3, reports[SourceNames.Trending].Returned);
        Assert.Equal(2, reports[SourceNames.Creator].Returned);

        // t2 comes from two sources and gets the multi-source bonus.
        Assert.Equal("t2", response.Candidates[0].ItemId);
        Assert.Equal([SourceNames.Creator, SourceNames.Trending], response.Candidates[0].Sources);
        Assert.Equal(["t2", "c1", "t1", "t3"], response.Candidates.Select(c => c.ItemId));
    }

    [Fact]
    public async Task Source_failures_and_latencies_are_measured_per_source()
    {
        var failures = new List<(string Source, string Reason)>();
        var durations = new List<string>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == RetrievalTelemetry.Name)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, _, tags, _) =>
        {
            if (instrument.Name == "recsys.retrieval.source.failures")
            {
                var failure = ((string)Tag(tags, "source")!, (string)Tag(tags, "reason")!);
                lock (failures)
                {
                    failures.Add(failure);
                }
            }
        });
        listener.SetMeasurementEventCallback<double>((instrument, _, tags, _) =>
        {
            if (instrument.Name == "recsys.retrieval.source.duration")
            {
                var source = (string)Tag(tags, "source")!;
                lock (durations)
                {
                    durations.Add(source);
                }
            }
        });
        listener.Start();
        var retriever = _store.Retriever(
            new RetrievalOptions { SourceTimeout = TimeSpan.FromMilliseconds(30), FilterTimeout = TimeSpan.FromMilliseconds(10_000), BackfillSource = null },
            FakeSource.Listing(SourceNames.Trending, "t1"),
            FakeSource.Throwing(SourceNames.Content),
            FakeSource.Hanging(SourceNames.Creator));

        await retriever.RetrieveAsync("u1", null, 10, NoExclude, CancellationToken.None);

        Assert.Equal([(SourceNames.Content, "error"), (SourceNames.Creator, "timeout")], failures.Order());
        Assert.Equal([SourceNames.Content, SourceNames.Creator, SourceNames.Trending], durations.Order());
    }

    private static object? Tag(ReadOnlySpan<KeyValuePair<string, object?>> tags, string key)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == key)
            {
                return tag.Value;
            }
        }

        return null;
    }

    [Fact]
    public async Task Failing_collaborative_raises_content_and_trending_budgets_by_half()
    {
        var options = Relaxed(new RetrievalOptions { BackfillSource = null });
        var items = Enumerable.Range(0, 1000).Select(i => $"i{i:D4}").ToArray();

        var content = FakeSource.Listing(SourceNames.Content, items);
        var trending = FakeSource.Listing(SourceNames.Trending, items);
        var failed = await _store.Retriever(options, FakeSource.Throwing(SourceNames.Collaborative), content, trending)
            .RetrieveAsync("u1", null, 500, NoExclude, CancellationToken.None);

        Assert.Equal([SourceNames.Collaborative], failed.Degraded);
        var reports = failed.Sources.ToDictionary(r => r.Source);
        Assert.Equal(150, reports[SourceNames.Content].Returned);   // 1000 x 500/5000 x 1.5
        Assert.Equal(75, reports[SourceNames.Trending].Returned);   // 500 x 500/5000 x 1.5

        var healthy = await _store.Retriever(options, FakeSource.Listing(SourceNames.Collaborative, "k1"), content, trending)
            .RetrieveAsync("u1", null, 500, NoExclude, CancellationToken.None);

        Assert.Empty(healthy.Degraded);
        reports = healthy.Sources.ToDictionary(r => r.Source);
        Assert.Equal(100, reports[SourceNames.Content].Returned);
        Assert.Equal(50, reports[SourceNames.Trending].Returned);
        Assert.Equal(1, reports[SourceNames.Collaborative].Returned);
        Assert.All(content.Budgets, b => Assert.Equal(150, b)); // the reserve is fetched in the same call
    }

    [Fact]
    public async Task Seen_unavailable_and_excluded_items_never_come_back()
    {
        var db = _store.Db;
        db.Trending([.. Enumerable.Range(0, 30).Select(i => ($"t{i:D2}", 100.0 - i))]);
        db.Zset(OnlineKeys.UserCategoryAffinity("u1"), ("news", 1));
        db.Zset(OnlineKeys.CategoryPopularity("news"), ("t00", 10), ("n1", 9), ("t01", 8));
        db.Set(OnlineKeys.UserSeen("u1"), "t00", "n1");
        db.Set(OnlineKeys.UnavailableItems, "t01", "t02");
        var options = Relaxed(new RetrievalOptions());
        var retriever = _store.Retriever(options, _store.StoreSources(options));

        var response = await retriever.RetrieveAsync("u1", null, 1000, new HashSet<string> { "t03", "t04" }, CancellationToken.None);

        var ids = response.Candidates.Select(c => c.ItemId).ToList();
        Assert.Equal(25, ids.Count);
        Assert.DoesNotContain("t00", ids);
        Assert.DoesNotContain("n1", ids);
        Assert.DoesNotContain("t01", ids);
        Assert.DoesNotContain("t02", ids);
        Assert.DoesNotContain("t03", ids);
        Assert.DoesNotContain("t04", ids);
        Assert.Equal("t05", ids[0]);
        Assert.Empty(response.Degraded);
    }

    [Fact]
    public async Task A_cold_start_user_gets_a_full_list_from_trending_even_when_many_are_seen()
    {
        var db = _store.Db;
        db.Trending([.. Enumerable.Range(0, 2000).Select(i => ($"t{i:D4}", 5000.0 - i))]);
        var seen = Enumerable.Range(0, 300).Select(i => $"t{i * 2:D4}").ToArray();
        db.Set(OnlineKeys.UserSeen("cold"), seen);
        var options = Relaxed(new RetrievalOptions());
        var retriever = _store.Retriever(options, _store.StoreSources(options));

        var response = await retriever.RetrieveAsync("cold", "home", 500, NoExclude, CancellationToken.None);

        Assert.Equal(500, response.Candidates.Count);
        Assert.All(response.Candidates, c => Assert.Equal([SourceNames.Trending], c.Sources));
        Assert.Empty(response.Candidates.Select(c => c.ItemId).Intersect(seen));
        Assert.Equal(response.Candidates.Count, response.Candidates.Select(c => c.ItemId).Distinct().Count());
        Assert.True(response.Candidates.Zip(response.Candidates.Skip(1)).All(p => p.First.Score >= p.Second.Score));
        var reports = response.Sources.ToDictionary(r => r.Source);
        Assert.Equal(0, reports[SourceNames.Content].Returned);
        Assert.Equal(0, reports[SourceNames.Creator].Returned);
        Assert.Equal(0, reports[SourceNames.RecentSimilar].Returned);
        Assert.Empty(response.Degraded);
    }

    [Fact]
    public async Task A_warm_user_gets_candidates_from_every_source_fused()
    {
        var db = _store.Db;
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        db.Trending(("pop1", 100), ("shared", 90), ("pop2", 80));
        db.Zset(OnlineKeys.UserRecent("u1"), ("r1", now - 1000));
        db.Zset(OnlineKeys.CoOccurrence("r1"), ("co1", 5), ("shared", 3));
        db.Set(OnlineKeys.UserFollows("u1"), "X");
        db.Zset(OnlineKeys.CreatorItems("X"), ("x1", now - 5000));
        db.Zset(OnlineKeys.UserCategoryAffinity("u1"), ("jazz", 2));
        db.Zset(OnlineKeys.CategoryPopularity("jazz"), ("j1", 7), ("shared", 1));
        var options = Relaxed(new RetrievalOptions());
        var retriever = _store.Retriever(options, _store.StoreSources(options));

        var response = await retriever.RetrieveAsync("u1", null, 10, NoExclude, CancellationToken.None);

        var byId = response.Candidates.ToDictionary(c => c.ItemId);
        Assert.Equal(["content", "recent_similar", "trending"], byId["shared"].Sources);
        Assert.Equal(["creator"], byId["x1"].Sources);
        Assert.Equal(["recent_similar"], byId["co1"].Sources);
        Assert.Equal(["content"], byId["j1"].Sources);
        Assert.Equal("shared", response.Candidates[0].ItemId);
        Assert.DoesNotContain("r1", byId.Keys);
    }

    [Fact]
    public async Task An_unreachable_store_degrades_every_source_and_fails_the_filter()
    {
        // The store sources fail and are reported; the request still answers (with nothing to offer).
        using var dead = await ConnectionMultiplexer.ConnectAsync(
            $"127.0.0.1:{EmbeddedGarnet.FreeTcpPort()},abortConnect=false,connectTimeout=200,connectRetry=0");
        var options = new RetrievalOptions();
        var monitor = new FixedOptions<RetrievalOptions>(options);
        var telemetry = new RetrievalTelemetry(_store.MeterFactory);
        var logger = NullLogger<CandidateRetriever>.Instance;
        var retriever = new CandidateRetriever(
            [new TrendingSource(new CandidateSignalReader(dead)), new ContentSource(new CandidateSignalReader(dead), monitor)], new CandidateSignalReader(dead), new EligibilityFilter(dead), monitor, TimeProvider.System, telemetry, logger);

        var response = await retriever.RetrieveAsync("u1", null, 10, NoExclude, CancellationToken.None);

        Assert.Empty(response.Candidates);
        Assert.Equal([SourceNames.Content, SourceNames.Trending], response.Degraded);

        // A source that still answers cannot be served unfiltered: the filter's failure fails the request.
        retriever = new CandidateRetriever(
            [FakeSource.Listing(SourceNames.Trending, "a", "b")], new CandidateSignalReader(dead), new EligibilityFilter(dead), monitor, TimeProvider.System, telemetry, logger);

        await Assert.ThrowsAsync<OnlineStoreUnavailableException>(
            () => retriever.RetrieveAsync("u1", null, 10, NoExclude, CancellationToken.None));
    }

    /// <summary>
    /// A short list completed from trending's reserve, with seen, unavailable and excluded items in every list: the answer is
    /// the fusion of exactly what each source reports it contributed, filtered, whether eligibility is decided in memory (seen
    /// set read with the signals, unavailable set cached) or through the store, and whether the backfill source is fused last
    /// (its extension summed into the same fusion) or first (everything fused again). With <paramref name="moved"/>,
    /// trending's list moves between its first read and the deeper ones (its first two items swap): a deeper read is extended
    /// in place only when its prefix is what was fused, so this one is fused again.
    /// </summary>
    [Theory]
    [InlineData(true, 0.7, false)]
    [InlineData(false, 0.7, false)]
    [InlineData(true, 2.0, false)]
    [InlineData(false, 2.0, false)]
    [InlineData(true, 0.7, true)]
    [InlineData(false, 0.7, true)]
    public async Task A_backfilled_list_is_the_fusion_of_the_reported_contributions(bool cached, double trendingWeight, bool moved)
    {
        var db = _store.Db;
        var trendingIds = Enumerable.Range(0, 3000).Select(i => $"t{i:D4}").ToArray();
        var seen = Enumerable.Range(0, 200).Select(i => $"t{i * 3:D4}").Append("c005").ToArray();
        string[] unavailable = ["t0001", "t0100", "c007", "k002"];
        db.Set(OnlineKeys.UserSeen("u1"), seen);
        db.Set(OnlineKeys.UnavailableItems, unavailable);
        var exclude = new HashSet<string>(StringComparer.Ordinal) { "t0002", "c009" };

        var options = Relaxed(new RetrievalOptions());
        options.Sources[SourceNames.Trending].Weight = trendingWeight;
        var collaborative = new SeenReadingSource(FakeSource.Listing(SourceNames.Collaborative, [.. Enumerable.Range(0, 80).Select(i => $"k{i:D3}"), "t0004", "t0010"]));
        var content = FakeSource.Listing(SourceNames.Content, [.. Enumerable.Range(0, 40).Select(i => $"c{i:D3}"), "t0004", "k001"]);
        var reads = 0;
        var trending = moved
            ? new FakeSource(SourceNames.Trending, (budget, _) =>
            {
                string[] ids = Interlocked.Increment(ref reads) == 1 ? trendingIds : [trendingIds[1], trendingIds[0], .. trendingIds[2..]];
                return Task.FromResult<IReadOnlyList<ScoredItem>>(ids.Take(budget).Select((id, i) => new ScoredItem(id, 1.0 - ((double)i / ids.Length))).ToArray());
            })
            : FakeSource.Listing(SourceNames.Trending, trendingIds);
        var cache = cached
            ? new SharedReadCache(Options.Create(new SharedReadCacheOptions { ListDuration = TimeSpan.Zero, UnavailableDuration = TimeSpan.FromMinutes(1) }), TimeProvider.System)
            : null;
        var retriever = new CandidateRetriever(
            [collaborative, content, trending], new CandidateSignalReader(_store.Garnet.Connection), new EligibilityFilter(_store.Garnet.Connection, cache),
            new FixedOptions<RetrievalOptions>(options), TimeProvider.System, new RetrievalTelemetry(_store.MeterFactory), NullLogger<CandidateRetriever>.Instance);

        const int Count = 1000;
        var response = await retriever.RetrieveAsync("u1", null, Count, exclude, CancellationToken.None);

        var lists = new Dictionary<string, IReadOnlyList<ScoredItem>>
        {
            [SourceNames.Collaborative] = await collaborative.RetrieveAsync(Store.Request("u1"), int.MaxValue, CancellationToken.None),
            [SourceNames.Content] = await content.RetrieveAsync(Store.Request("u1"), int.MaxValue, CancellationToken.None),
            [SourceNames.Trending] = await trending.RetrieveAsync(Store.Request("u1"), int.MaxValue, CancellationToken.None),
        };
        var reports = response.Sources;
        Assert.Equal(trendingWeight > 1 ? SourceNames.Trending : SourceNames.Collaborative, reports[0].Source);
        Assert.True(reports.Single(r => r.Source == SourceNames.Trending).Returned > 100, "trending was extended over its reserve");
        Assert.True(trending.Budgets.Count >= 3, "trending was read deeper after its reserve ran out");
        var ineligible = seen.Concat(unavailable).Concat(exclude).ToHashSet(StringComparer.Ordinal);
        var expected = CandidateFusion.Merge([.. reports.Select(r => new SourceResult(r.Source, options.Sources[r.Source].Weight, lists[r.Source].Take(r.Returned).ToArray()))])
            .Where(c => !ineligible.Contains(c.ItemId))
            .Take(Count)
            .ToList();

        Assert.Equal(Count, response.Candidates.Count);
        Assert.Equal(expected.Select(c => c.ItemId), response.Candidates.Select(c => c.ItemId));
        Assert.Equal(expected.Select(c => BitConverter.DoubleToInt64Bits(c.Score)), response.Candidates.Select(c => BitConverter.DoubleToInt64Bits(c.Score)));
        Assert.Equal(expected.Select(c => string.Join(',', c.Sources)), response.Candidates.Select(c => string.Join(',', c.Sources)));
    }

    [Fact]
    public async Task Request_cancellation_is_not_reported_as_a_degraded_source()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        var retriever = _store.Retriever(new RetrievalOptions(), FakeSource.Hanging(SourceNames.Trending));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => retriever.RetrieveAsync("u1", null, 10, NoExclude, cts.Token));
    }
}

/// <summary>A source that asks for the user's seen set with the signals (as the collaborative source does).</summary>
internal sealed class SeenReadingSource(ICandidateSource inner) : ICandidateSource
{
    public string Name => inner.Name;

    public UserSignalsQuery SignalsNeeded => new(0, 0, 0, Seen: true);

    public Task<IReadOnlyList<ScoredItem>> RetrieveAsync(RetrievalRequestContext request, int budget, CancellationToken cancellationToken) =>
        inner.RetrieveAsync(request, budget, cancellationToken);
}

/// <summary>Hand-written sources for the retriever's failure handling.</summary>
internal sealed class FakeSource(string name, Func<int, CancellationToken, Task<IReadOnlyList<ScoredItem>>> behaviour) : ICandidateSource
{
    public string Name => name;

    public List<int> Budgets { get; } = [];

    public Task<IReadOnlyList<ScoredItem>> RetrieveAsync(RetrievalRequestContext request, int budget, CancellationToken cancellationToken)
    {
        lock (Budgets)
        {
            Budgets.Add(budget);
        }

        return behaviour(budget, cancellationToken);
    }

    /// <summary>The first <c>budget</c> of <paramref name="ids"/>, scores falling linearly from 1.</summary>
    public static FakeSource Listing(string name, params string[] ids) => new(name, (budget, _) =>
        Task.FromResult<IReadOnlyList<ScoredItem>>(ids.Take(budget).Select((id, i) => new ScoredItem(id, 1.0 - ((double)i / ids.Length))).ToArray()));

    public static FakeSource Throwing(string name) => new(name, (_, _) =>
        Task.FromException<IReadOnlyList<ScoredItem>>(new InvalidOperationException(name + " is down")));

    /// <summary>Never completes and ignores cancellation: only the retriever's timeout gets rid of it.</summary>
    public static FakeSource Hanging(string name) => new(name, (_, _) => new TaskCompletionSource<IReadOnlyList<ScoredItem>>().Task);
}
