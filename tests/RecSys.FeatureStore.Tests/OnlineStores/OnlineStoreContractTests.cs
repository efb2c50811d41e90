using RecSys.TestSupport;

namespace RecSys.FeatureStore.Tests.OnlineStores;

/// <summary>The online store contract against Garnet, in-process.</summary>
public sealed class GarnetOnlineFeatureStoreTests(EmbeddedGarnet garnet)
    : OnlineFeatureStoreContract(garnet.Connection, garnet.Flush), IClassFixture<EmbeddedGarnet>;

/// <summary>The online store contract against redis-server (Redis 7.0 from apt); reported skipped, with the reason, when it is missing.</summary>
[RequiresRedisServer]
public sealed class RedisOnlineFeatureStoreTests(RedisServerFixture redis)
    : OnlineFeatureStoreContract(redis.Server.Connection, redis.Server.Flush), IClassFixture<RedisServerFixture>;

/// <summary>Starts redis-server lazily, so that a machine without it gets skipped cases rather than a failing fixture.</summary>
public sealed class RedisServerFixture : IDisposable
{
    private readonly Lazy<RedisServerProcess> _server = new(() => new RedisServerProcess());

    public RedisServerProcess Server => _server.Value;

    public void Dispose()
    {
        if (_server.IsValueCreated)
        {
            _server.Value.Dispose();
        }
    }
}
