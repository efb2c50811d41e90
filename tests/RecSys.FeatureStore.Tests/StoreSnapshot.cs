using System.Globalization;
using System.Net;
using System.Text;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Tests;

/// <summary>A canonical text dump of every key of a store, to compare two states.</summary>
internal static class StoreSnapshot
{
    public static async Task<SortedDictionary<string, string>> TakeAsync(IConnectionMultiplexer redis, int port, params string[] excludedKeys)
    {
        var server = redis.GetServer(IPAddress.Loopback, port);
        var db = redis.GetDatabase();
        var dump = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in server.Keys(pattern: "*", pageSize: 1000).Select(k => k.ToString()).ToList())
        {
            // The writer's fencing token and lease count incarnations, not state.
            if (excludedKeys.Contains(key) || key is FeatureStore.Streaming.ProcessorKeys.Fence or FeatureStore.Streaming.ProcessorKeys.Lease)
            {
                continue;
            }

            var type = await db.KeyTypeAsync(key);
            dump[key] = type switch
            {
                RedisType.String => "s:" + await db.StringGetAsync(key),
                RedisType.Hash => "h:" + Join((await db.HashGetAllAsync(key)).Select(e => $"{e.Name}={Number(e.Value)}")),
                RedisType.Set => "S:" + Join((await db.SetMembersAsync(key)).Select(m => m.ToString())),
                RedisType.SortedSet => "z:" + Join((await db.SortedSetRangeByRankWithScoresAsync(key)).Select(e => $"{e.Element}={e.Score.ToString("G12", CultureInfo.InvariantCulture)}")),
                _ => "?" + type,
            };
        }

        return dump;
    }

    /// <summary>Equal key sets and values; the message names the first differing key.</summary>
    public static void AssertEqual(SortedDictionary<string, string> expected, SortedDictionary<string, string> actual)
    {
        Assert.Equal(expected.Keys, actual.Keys);
        foreach (var (key, value) in expected)
        {
            Assert.True(value == actual[key], $"{key}: expected {value} but found {actual[key]}");
        }
    }

    private static string Number(RedisValue value) =>
        double.TryParse(value.ToString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d)
            ? d.ToString("G12", CultureInfo.InvariantCulture)
            : value.ToString();

    private static string Join(IEnumerable<string> parts)
    {
        var sb = new StringBuilder();
        foreach (var part in parts.Order(StringComparer.Ordinal))
        {
            sb.Append(part).Append(';');
        }

        return sb.ToString();
    }
}
