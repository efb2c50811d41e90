using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Serving;
using RecSys.Retrieval.Apis;
using RecSys.Retrieval.Diagnostics;
using RecSys.Retrieval.VectorIndex;
using RecSys.ServiceDefaults;
using RecSys.ServiceDefaults.Security;
using RecSys.TestSupport;
using RecSys.VectorSearch;
using StackExchange.Redis;

namespace RecSys.Retrieval.Tests.VectorIndex;

/// <summary>One Garnet for the vector index tests (their own, so they do not share keys with the other store tests).</summary>
[CollectionDefinition(Name)]
public sealed class VectorStoreCollection : ICollectionFixture<VectorStoreFixture>
{
    public const string Name = "vector index store";
}

public sealed class VectorStoreFixture : IDisposable
{
    public EmbeddedGarnet Garnet { get; } = new();

    public IDatabase Db => Garnet.Connection.GetDatabase();

    public void Dispose() => Garnet.Dispose();
}

/// <summary>A temporary directory removed at dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("recsys-vi-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal static class VectorIndexTestSupport
{
    private static readonly IMeterFactory Meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();

    public static VectorIndexOptions Options(int shards = 4, int dimensions = 8, string? dataDirectory = null) => new()
    {
        Shards = shards,
        Dimensions = dimensions,
        EfConstruction = 64,
        BuildThreads = 1,
        DataDirectory = dataDirectory,
        PerShardTimeout = TimeSpan.FromMilliseconds(30_000),
    };

    public static VectorIndexManager Manager(
        VectorIndexOptions options,
        IConnectionMultiplexer? redis = null,
        Func<LocalVectorShard, IVectorShard>? decorate = null,
        bool versioned = false) =>
        new(options, redis is null ? null : new ItemMetadataReader(redis), new RetrievalTelemetry(Meters), TimeProvider.System,
            NullLogger.Instance, decorate, versioned && redis is not null ? new EmbeddingStore(redis) : null);

    public static float[] RandomVector(Random random, int dimensions)
    {
        var v = new float[dimensions];
        for (var i = 0; i < v.Length; i++)
        {
            v[i] = (float)((random.NextDouble() * 2) - 1);
        }

        return v;
    }

    /// <summary>A unit vector along <paramref name="axis"/> plus a little noise.</summary>
    public static float[] Near(int axis, Random random, int dimensions, double noise = 0.05)
    {
        var v = new float[dimensions];
        v[axis] = 1;
        for (var i = 0; i < v.Length; i++)
        {
            v[i] += (float)(((random.NextDouble() * 2) - 1) * noise);
        }

        return v;
    }

    public static (string ItemId, float[] Vector)[] RandomItems(int count, int dimensions, int seed = 1, string prefix = "item")
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(i => ($"{prefix}{i:D5}", RandomVector(random, dimensions)))];
    }

    public static async Task AddAsync(this VectorIndexManager manager, params (string ItemId, float[] Vector)[] items)
    {
        manager.EnqueueUpserts(items);
        await manager.ApplyPendingAsync();
    }

    /// <summary>A web app with only what the index needs: service defaults, the online store, AddVectorIndex and its API.</summary>
    public static async Task<WebApplication> StartAppAsync(EmbeddedGarnet garnet, string dataDirectory, int dimensions = 8, int shards = 4)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Development" });
        builder.WebHost.UseTestServer();
        builder.Configuration["ConnectionStrings:" + ServiceNames.OnlineStore] = garnet.ConnectionString;
        builder.Configuration["Retrieval:DataDirectory"] = dataDirectory;
        builder.Configuration["Retrieval:VectorIndex:Dimensions"] = dimensions.ToString(System.Globalization.CultureInfo.InvariantCulture);
        builder.Configuration["Retrieval:VectorIndex:Shards"] = shards.ToString(System.Globalization.CultureInfo.InvariantCulture);
        builder.Configuration["Retrieval:VectorIndex:EfConstruction"] = "64";
        builder.Configuration["Retrieval:VectorIndex:PerShardTimeout"] = "00:00:30";
        builder.Configuration["RecSys:Security:Mode"] = "Open";
        builder.AddServiceDefaults();
        builder.AddRecSysSecurity();
        builder.AddOnlineStoreClient();
        builder.AddVectorIndex();
        var app = builder.Build();
        app.UseProblemDetailsForErrors();
        app.UseRecSysSecurity();
        app.MapDefaultEndpoints();
        app.MapVectorIndexApi();
        app.MapEmbeddingsApi();
        await app.StartAsync();
        return app;
    }
}

/// <summary>A shard whose searches never answer (until cancelled): it stands for a slow or unreachable shard.</summary>
internal sealed class StalledShard(IVectorShard inner) : IVectorShard
{
    public int ShardId => inner.ShardId;

    public long Version => inner.Version;

    public int Dimension => inner.Dimension;

    public ValueTask UpsertAsync(ReadOnlyMemory<long> ids, ReadOnlyMemory<float> vectors, CancellationToken cancellationToken = default) =>
        inner.UpsertAsync(ids, vectors, cancellationToken);

    public ValueTask<int> DeleteAsync(ReadOnlyMemory<long> ids, CancellationToken cancellationToken = default) =>
        inner.DeleteAsync(ids, cancellationToken);

    public async ValueTask<ShardSearchResult> SearchAsync(ReadOnlyMemory<float> query, ShardSearchRequest request, CancellationToken cancellationToken = default)
    {
        await Task.Delay(Timeout.Infinite, cancellationToken);
        return await inner.SearchAsync(query, request, cancellationToken);
    }

    public ValueTask<long> CountAsync(CancellationToken cancellationToken = default) => inner.CountAsync(cancellationToken);
}
