using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
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

/// <summary>One Garnet and one web host for every test that touches the store; those tests run one at a time and flush first.</summary>
[CollectionDefinition(Name)]
public sealed class StoreCollection : ICollectionFixture<StoreFixture>
{
    public const string Name = "online store";
}

public sealed class StoreFixture : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly Lazy<WebApplicationFactory<Program>> _app;

    public StoreFixture()
    {
        Garnet = new EmbeddedGarnet();
        _app = new Lazy<WebApplicationFactory<Program>>(() => new WebApplicationFactory<Program>()
            .WithWebHostBuilder(b => b
                .UseSetting("ConnectionStrings:" + ServiceNames.OnlineStore, Garnet.ConnectionString)
                .UseSetting("Retrieval:SourceTimeout", "00:00:10")
                .UseSetting("Retrieval:FilterTimeout", "00:00:10")
                // Every test flushes and rewrites the store: lists kept from the test before would answer it.
                .UseSetting("OnlineStore:ReadCache:ListDuration", "00:00:00")
                .UseSetting("OnlineStore:ReadCache:UnavailableDuration", "00:00:00")
                .UseSetting("RecSys:Security:Mode", "Open")));
    }

    public EmbeddedGarnet Garnet { get; }

    public IDatabase Db => Garnet.Connection.GetDatabase();

    public WebApplicationFactory<Program> App => _app.Value;

    public IMeterFactory MeterFactory => _services.GetRequiredService<IMeterFactory>();

    /// <summary>A retriever over <paramref name="sources"/> against this Garnet.</summary>
    public CandidateRetriever Retriever(RetrievalOptions options, params ICandidateSource[] sources) =>
        new(sources, new CandidateSignalReader(Garnet.Connection), new EligibilityFilter(Garnet.Connection), new FixedOptions<RetrievalOptions>(options), TimeProvider.System,
            new RetrievalTelemetry(MeterFactory), NullLogger<CandidateRetriever>.Instance);

    /// <summary>The four store-backed sources over this Garnet.</summary>
    public ICandidateSource[] StoreSources(RetrievalOptions options)
    {
        var monitor = new FixedOptions<RetrievalOptions>(options);
        return
        [
            new TrendingSource(new CandidateSignalReader(Garnet.Connection)),
            new RecentSimilarSource(new CandidateSignalReader(Garnet.Connection), monitor),
            new CreatorSource(new CandidateSignalReader(Garnet.Connection), monitor),
            new ContentSource(new CandidateSignalReader(Garnet.Connection), monitor),
        ];
    }

    public void Dispose()
    {
        if (_app.IsValueCreated)
        {
            _app.Value.Dispose();
        }

        Garnet.Dispose();
        _services.Dispose();
    }
}

internal sealed class FixedOptions<T>(T value) : IOptionsMonitor<T>
{
    public T CurrentValue => value;

    public T Get(string? name) => value;

    public IDisposable? OnChange(Action<T, string?> listener) => null;
}

/// <summary>Writes the online-store layout of <see cref="OnlineKeys"/> the way the FeatureServer's processor does.</summary>
internal static class Store
{
    public static void Trending(this IDatabase db, params (string Item, double Score)[] items) =>
        db.SortedSetAdd(OnlineKeys.Trending, items.Select(i => new SortedSetEntry(i.Item, i.Score)).ToArray());

    public static void Zset(this IDatabase db, string key, params (string Member, double Score)[] entries) =>
        db.SortedSetAdd(key, entries.Select(i => new SortedSetEntry(i.Member, i.Score)).ToArray());

    public static void Set(this IDatabase db, string key, params string[] members) =>
        db.SetAdd(key, members.Select(m => (RedisValue)m).ToArray());

    public static RetrievalRequestContext Request(string userId, int count = 500, DateTimeOffset? now = null) =>
        new(userId, null, count, new HashSet<string>(), now ?? DateTimeOffset.UtcNow);
}
