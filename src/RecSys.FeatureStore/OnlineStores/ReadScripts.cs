using System.Globalization;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.Streaming;

namespace RecSys.FeatureStore.OnlineStores;

/// <summary>Lua of the online store's reads and event-time-checked writes (Redis 7.0 and Garnet: no HEXPIRE needed).</summary>
internal static class ReadScripts
{
    /// <summary>
    /// ARGV: user id, item id. Returns { user's engagement total or false, largest engagement of the user on one of the
    /// item's categories or false, the user's engagement with the item's creator or false }, numbers as strings.
    /// </summary>
    public static readonly string CrossAffinity = $$"""
        local user, item = ARGV[1], ARGV[2]
        local attrs = redis.call('HMGET', {{Key(OnlineKeys.Item, "item")}}, '{{ItemFields.Categories}}', '{{ItemFields.Creator}}')
        local total = redis.call('HGET', {{Key(id => OnlineKeys.Features(EntityKinds.User, id), "user")}}, '{{FeatureFields.EngagementTotal}}')
        local best = false
        if attrs[1] then
          local cats = {{Key(OnlineKeys.UserCategoryAffinity, "user")}}
          for c in string.gmatch(attrs[1], '[^{{ItemFields.ListSeparator}}]+') do
            local s = tonumber(redis.call('ZSCORE', cats, c))
            if s and (not best or s > best) then best = s end
          end
        end
        local creator = false
        if attrs[2] and attrs[2] ~= '' then
          creator = redis.call('ZSCORE', {{Key(OnlineKeys.UserCreatorAffinity, "user")}}, attrs[2])
        end
        if best then best = string.format('%.17g', best) end
        return { total or false, best, creator or false }
        """;

    /// <summary>
    /// KEYS: feature hash. ARGV: field, value, event time ms. Sets field and field@t only when the stored field@t is
    /// absent or older (an event-time guarded write). Returns 1 when written, 0 when refused.
    /// </summary>
    public static readonly string WriteIfNewer = $$"""
        local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1] .. '{{FeatureFields.TimeSuffix}}'))
        if cur and cur >= tonumber(ARGV[3]) then return 0 end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], ARGV[1] .. '{{FeatureFields.TimeSuffix}}', ARGV[3])
        return 1
        """;

    private static string Key(Func<string, string> key, string variable)
    {
        const string marker = "\u0001";
        var parts = key(marker).Split(marker);
        return string.Create(CultureInfo.InvariantCulture, $"'{parts[0]}' .. {variable} .. '{parts[1]}'");
    }
}
