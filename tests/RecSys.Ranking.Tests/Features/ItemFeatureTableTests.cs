using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.OnlineStores;
using RecSys.FeatureStore.Registry;
using RecSys.FeatureStore.Serving;
using RecSys.FeatureStore.Streaming;
using RecSys.FeatureStore.Telemetry;
using RecSys.Ranking.Features;
using RecSys.Ranking.Serving;
using RecSys.TestSupport;

namespace RecSys.Ranking.Tests.Features;

public sealed class ItemFeatureTableTests(EmbeddedGarnet garnet) : IClassFixture<EmbeddedGarnet>
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Post_processing_takes_metadata_from_the_table_and_availability_from_the_store()
    {
        using var world = await TwoItems.ApplyAsync(garnet);
        var (meters, telemetry, applier, entries) = (world.Meters, world.Telemetry, world.Applier, world.Entries);

        var time = new FakeTimeProvider(Now);
        var store = new RedisOnlineFeatureStore(garnet.Connection, Options.Create(new OnlineStoreOptions()), telemetry, time, NullLogger<RedisOnlineFeatureStore>.Instance);
        var reader = new ItemMetadataReader(garnet.Connection);
        var table = new ItemFeatureTable(store, new ItemCatalogReader(garnet.Connection), new FeatureRegistry(), Options.Create(new RankingFeatureProviderOptions()),
            time, meters, reader);
        var snapshot = await table.RefreshAsync(CancellationToken.None);
        Assert.True(snapshot.HasMetadata);
        Assert.Equal(2, snapshot.Count);
        Assert.True(snapshot.TryGetMetadata("a", out var a) && a.Creator == "c1" && a.CreatedAt == Now.AddHours(-2));

        // After the read: b is made unavailable and c is created; the table knows neither change.
        List<LogEntry> later =
        [
            new(entries.Count, entries.Count + 1, TestData.Item("b", "c2", ["film"], Now.AddDays(-9), available: false)),
            new(entries.Count + 1, entries.Count + 2, TestData.Item("c", "c3", ["music"], Now.AddMinutes(-1))),
        ];
        Assert.True((await applier.ApplyAsync(later, entries.Count, entries.Count + 2)).Committed);

        var inputs = new StorePostProcessingInputs(reader, new EmbeddingStore(garnet.Connection), time, table);
        var (metadata, _) = await inputs.ReadAsync(["a", "b", "c", "gone"], CancellationToken.None);

        Assert.Equal(("c1", true, Now.AddHours(-2)), (metadata[0]!.Creator, metadata[0]!.Available, metadata[0]!.CreatedAt));
        Assert.Equal(["news"], metadata[0]!.Categories);
        Assert.False(metadata[1]!.Available);
        Assert.Equal("c3", metadata[2]!.Creator);
        Assert.Equal(Now.AddMinutes(-1), metadata[2]!.CreatedAt);
        Assert.Null(metadata[3]);

        // The same answer as reading every hash.
        var direct = await reader.ReadAsync(["a", "b", "c", "gone"], CancellationToken.None);
        Assert.Equal(direct.Select(m => m?.Available), metadata.Select(m => m?.Available));
        Assert.Equal(direct.Select(m => m?.CreatedAt), metadata.Select(m => m?.CreatedAt));

        // By the snapshot's numbers (as the ranker passes them for decoded candidates): the same answer, fresh availability included.
        string[] ids = ["a", "b", "c", "gone"];
        var numbers = ids.Select(id => snapshot.TryGetNumber(id, out var number) ? number : -1).ToArray();
        var (numbered, _) = await inputs.ReadAsync(ids, snapshot.Stamp, numbers, CancellationToken.None);
        static object? Fields(RecSys.FeatureStore.Serving.ItemMetadata? m) => m is null ? null : (m.Creator, string.Join(",", m.Categories), m.Available, m.CreatedAt);
        Assert.Equal(metadata.Select(Fields), numbered.Select(Fields));
    }

    [Fact]
    public async Task Post_processing_takes_embeddings_of_the_active_version_from_the_table_as_the_store_holds_them()
    {
        using var world = await TwoItems.ApplyAsync(garnet);
        var (meters, telemetry, applier, entries) = (world.Meters, world.Telemetry, world.Applier, world.Entries);
        var embeddings = new EmbeddingStore(garnet.Connection);
        await embeddings.CreateVersionAsync("v1", 3, CancellationToken.None);
        await embeddings.SetItemsAsync("v1", [("a", [0.1f, -2.5f, 1e-7f]), ("b", [3f, 0f, -0.333f])], CancellationToken.None);
        await embeddings.ActivateAsync("v1", CancellationToken.None);

        var time = new FakeTimeProvider(Now);
        var store = new RedisOnlineFeatureStore(garnet.Connection, Options.Create(new OnlineStoreOptions()), telemetry, time, NullLogger<RedisOnlineFeatureStore>.Instance);
        var reader = new ItemMetadataReader(garnet.Connection);
        var table = new ItemFeatureTable(store, new ItemCatalogReader(garnet.Connection), new FeatureRegistry(), Options.Create(new RankingFeatureProviderOptions()),
            time, meters, reader, embeddings);
        var snapshot = await table.RefreshAsync(CancellationToken.None);
        Assert.Equal("v1", snapshot.EmbeddingVersion);
        Assert.True(snapshot.TryGetEmbedding("a", "v1", 3, out _));
        Assert.False(snapshot.TryGetEmbedding("a", "v1", 4, out _));
        Assert.False(snapshot.TryGetEmbedding("a", "v2", 3, out _));

        // c gets a vector after the read: the table lacks it, so it comes from the store.
        await embeddings.SetItemsAsync("v1", [("c", [7f, 8f, 9f])], CancellationToken.None);
        var inputs = new StorePostProcessingInputs(reader, embeddings, time, table);
        string[] ids = ["b", "a", "c", "gone"];
        var (_, vectors) = await inputs.ReadAsync(ids, CancellationToken.None);
        var direct = await embeddings.GetItemsAsync("v1", ids, 3, CancellationToken.None);
        Assert.Equal(direct.Length, vectors.Count);
        for (var i = 0; i < direct.Length; i++)
        {
            Assert.Equal(direct[i], vectors[i]);
        }

        Assert.Null(vectors[3]);

        // By the snapshot's numbers: the same vectors; numbers of another snapshot (a stamp that is not the table's) are ignored.
        var numbers = ids.Select(id => snapshot.TryGetNumber(id, out var number) ? number : -1).ToArray();
        var (_, numbered) = await inputs.ReadAsync(ids, snapshot.Stamp, numbers, CancellationToken.None);
        var (_, otherStamp) = await inputs.ReadAsync(ids, snapshot.Stamp + 1_000, numbers.Reverse().ToArray(), CancellationToken.None);
        for (var i = 0; i < direct.Length; i++)
        {
            Assert.Equal(direct[i], numbered[i]);
            Assert.Equal(direct[i], otherStamp[i]);
        }

        // Another version activated: the table's vectors are not that version's, so every one is read from the store.
        await embeddings.CreateVersionAsync("v2", 3, CancellationToken.None);
        await embeddings.SetItemsAsync("v2", [("a", [1f, 1f, 1f])], CancellationToken.None);
        await embeddings.ActivateAsync("v2", CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(6));
        (_, vectors) = await inputs.ReadAsync(["a", "b"], CancellationToken.None);
        Assert.Equal([1f, 1f, 1f], vectors[0]!);
        Assert.Null(vectors[1]);
    }
    /// <summary>A flushed store with items "a" (news, 2 h old) and "b" (film, 9 days old) applied by the stream processor's writer.</summary>
    private sealed class TwoItems : IDisposable
    {
        private readonly ServiceProvider _services;

        private TwoItems(ServiceProvider services, FeatureStoreTelemetry telemetry, OnlineApplier applier, List<LogEntry> entries)
        {
            _services = services;
            Telemetry = telemetry;
            Applier = applier;
            Entries = entries;
        }

        public IMeterFactory Meters => _services.GetRequiredService<IMeterFactory>();

        public FeatureStoreTelemetry Telemetry { get; }

        public OnlineApplier Applier { get; }

        public List<LogEntry> Entries { get; }

        public static async Task<TwoItems> ApplyAsync(EmbeddedGarnet garnet)
        {
            garnet.Flush();
            var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
            var telemetry = new FeatureStoreTelemetry(services.GetRequiredService<IMeterFactory>(), new ProcessorState());
            var applier = new OnlineApplier(garnet.Connection, telemetry);
            await applier.InitializeAsync();
            List<LogRecord> records = [TestData.Item("a", "c1", ["news"], Now.AddHours(-2)), TestData.Item("b", "c2", ["film"], Now.AddDays(-9))];
            var entries = TestData.Entries(records);
            Assert.True((await applier.ApplyAsync(entries, 0, entries.Count)).Committed);
            return new TwoItems(services, telemetry, applier, entries);
        }

        public void Dispose() => _services.Dispose();
    }
}
