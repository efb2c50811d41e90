using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Serving;
using RecSys.Retrieval.Sources;
using RecSys.Retrieval.VectorIndex;
using static RecSys.Retrieval.Tests.VectorIndex.VectorIndexTestSupport;

namespace RecSys.Retrieval.Tests.VectorIndex;

[Collection(VectorStoreCollection.Name)]
public sealed class VectorIndexServiceTests(VectorStoreFixture store)
{
    [Fact]
    public async Task Queued_writes_are_applied_when_the_incremental_period_elapses_and_snapshotted_at_shutdown()
    {
        using var dir = new TempDirectory();
        var options = Options(dataDirectory: dir.Path);
        options.SnapshotPeriod = TimeSpan.FromDays(7);
        using var manager = Manager(options);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var service = new VectorIndexMaintenanceService(manager, Microsoft.Extensions.Options.Options.Create(options), time,
            NullLogger<VectorIndexMaintenanceService>.Instance);
        await service.StartAsync(CancellationToken.None);
        while (!manager.Loaded)
        {
            await Task.Delay(1);
        }

        manager.EnqueueUpserts(RandomItems(30, 8));
        Assert.Equal(30, manager.PendingWrites);
        // The timers start once loading is done; advancing until the queue drains does not depend on when exactly.
        // The queue empties when an apply takes it, before the apply finishes: wait for the vectors, bounded.
        for (var step = 0; step < 10_000 && (manager.PendingWrites > 0 || manager.GetStatus().Vectors < 30); step++)
        {
            time.Advance(options.IncrementalPeriod);
            await Task.Delay(1);
        }

        Assert.Equal(30, manager.GetStatus().Vectors);
        Assert.Null(manager.GetStatus().LastSnapshot);
        await service.StopAsync(CancellationToken.None);

        Assert.NotNull(manager.GetStatus().LastSnapshot);
        using var reloaded = Manager(options);
        await reloaded.LoadAsync();
        Assert.Equal(30, reloaded.GetStatus().Vectors);
    }

    [Fact]
    public async Task AddVectorIndex_registers_the_collaborative_source_and_validates_its_options()
    {
        using var dir = new TempDirectory();
        await using (var app = await StartAppAsync(store.Garnet, dir.Path))
        {
            var sources = app.Services.GetServices<ICandidateSource>();
            Assert.Contains(sources, s => s.Name == SourceNames.Collaborative);
            await app.StopAsync();
        }

        var builder = WebApplication.CreateBuilder();
        builder.Configuration["ConnectionStrings:" + ServiceNames.OnlineStore] = store.Garnet.ConnectionString;
        builder.Configuration["Retrieval:VectorIndex:Shards"] = "0";
        builder.Configuration["Retrieval:VectorIndex:Collaborative:BaseWeight"] = "1.5";
        builder.AddOnlineStoreClient();
        builder.AddVectorIndex();
        await using var bad = builder.Build();
        var error = Assert.Throws<OptionsValidationException>(() => bad.Services.GetRequiredService<IOptions<VectorIndexOptions>>().Value);
        Assert.Contains(error.Failures, f => f.Contains("Shards", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("BaseWeight", StringComparison.Ordinal));
    }
}
