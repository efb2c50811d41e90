using RecSys.FeatureStore.Tests.OnlineStores;
using RecSys.TestSupport;

namespace RecSys.FeatureStore.Tests.Serving;

/// <summary>The serving readers' contract against Garnet, in-process.</summary>
public sealed class GarnetServingReadersTests(EmbeddedGarnet garnet)
    : ServingReadersContract(garnet.Connection, garnet.Flush), IClassFixture<EmbeddedGarnet>;

/// <summary>The serving readers' contract against redis-server (Redis 7.0 from apt); reported skipped, with the reason, when it is missing.</summary>
[RequiresRedisServer]
public sealed class RedisServingReadersTests(RedisServerFixture redis)
    : ServingReadersContract(redis.Server.Connection, redis.Server.Flush), IClassFixture<RedisServerFixture>;
