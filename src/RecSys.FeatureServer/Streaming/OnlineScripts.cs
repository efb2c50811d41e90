using System.Globalization;
using RecSys.Core.Storage;

namespace RecSys.FeatureServer.Streaming;

/// <summary>
/// The Lua scripts that apply log records to the online store. Key shapes and field names are generated from
/// <see cref="OnlineKeys"/> and <see cref="ItemFields"/>, so the scripts cannot drift from the layout readers use.
/// Checked against Garnet 2.2.8 (<c>--lua true</c>): keys computed inside a script, SET NX EX, ZADD GT, ZUNIONSTORE WEIGHTS.
/// </summary>
internal static class OnlineScripts
{
    private static readonly string Separator = Lua(ItemFields.ListSeparator.ToString());

    private static string Prelude => $$"""
        local unpack = table.unpack or unpack
        {{KeyFunction("catpop", OnlineKeys.CategoryPopularity)}}
        {{KeyFunction("cokey", OnlineKeys.CoOccurrence)}}
        {{KeyFunction("crkey", OnlineKeys.CreatorItems)}}
        local function split(s)
          local out = {}
          if s then
            for part in string.gmatch(s, '[^' .. {{Separator}} .. ']+') do out[#out + 1] = part end
          end
          return out
        end
        """;

    /// <summary>
    /// Applies one interaction event exactly once: the dedupe marker KEYS[1] is set (NX, with a TTL) in the same script.
    /// KEYS: marker, user features, item features, item hash, trending, user categories, user creators, user recent,
    /// user seen, user follows, processor stats (counts applied and duplicate events exactly). ARGV: marker ttl s, event time ms, type, engagement, decayed weight, item id or '',
    /// creator id or '', marks seen 1/0. Returns 1 when applied, 0 when a duplicate.
    /// </summary>
    public static readonly string ApplyEvent = Prelude + $$"""

        if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
          redis.call('HINCRBY', KEYS[11], '{{ProcessorKeys.DuplicatesSkipped}}', 1)
          return 0
        end
        redis.call('HINCRBY', KEYS[11], '{{ProcessorKeys.EventsApplied}}', 1)
        local t = tonumber(ARGV[2])
        local ts = ARGV[2]
        local typ = ARGV[3]
        local w = tonumber(ARGV[4])
        local item = ARGV[6]
        local creator = ARGV[7]

        local function counters(key, incs)
          local fields = {}
          for i, f in ipairs(incs) do fields[i] = f[1] .. '{{FeatureFields.TimeSuffix}}' end
          fields[#fields + 1] = '{{FeatureFields.LastEventMs}}'
          local times = redis.call('HMGET', key, unpack(fields))
          local set = {}
          for i, f in ipairs(incs) do
            if f[3] then redis.call('HINCRBYFLOAT', key, f[1], f[2]) else redis.call('HINCRBY', key, f[1], f[2]) end
            local prev = tonumber(times[i])
            if not prev or t > prev then set[#set + 1] = fields[i]; set[#set + 1] = ts end
          end
          local last = tonumber(times[#fields])
          if not last or t > last then
            set[#set + 1] = '{{FeatureFields.LastEventMs}}'; set[#set + 1] = ts
            set[#set + 1] = '{{FeatureFields.LastEventMs}}{{FeatureFields.TimeSuffix}}'; set[#set + 1] = ts
          end
          if #set > 0 then redis.call('HSET', key, unpack(set)) end
        end

        local user = { { '{{FeatureFields.EventsTotal}}', 1 } }
        if typ == 'click' then user[#user + 1] = { '{{FeatureFields.ClicksTotal}}', 1 } end
        if typ == 'impression' then user[#user + 1] = { '{{FeatureFields.ImpressionsTotal}}', 1 } end
        if w > 0 then user[#user + 1] = { '{{FeatureFields.EngagementTotal}}', ARGV[4], true } end
        counters(KEYS[2], user)

        if item ~= '' then
          local it = { { '{{FeatureFields.EventsTotal}}', 1 } }
          if typ == 'impression' then it[#it + 1] = { '{{FeatureFields.ImpressionsTotal}}', 1 } end
          if typ == 'view' then it[#it + 1] = { '{{FeatureFields.ViewsTotal}}', 1 } end
          if typ == 'click' then it[#it + 1] = { '{{FeatureFields.ClicksTotal}}', 1 } end
          if w > 0 then it[#it + 1] = { '{{FeatureFields.EngagementTotal}}', ARGV[4], true } end
          counters(KEYS[3], it)

          if ARGV[8] == '1' then redis.call('SADD', KEYS[9], item) end

          if w > 0 then
            redis.call('ZINCRBY', KEYS[5], ARGV[5], item)
            local attrs = redis.call('HMGET', KEYS[4], '{{ItemFields.Categories}}', '{{ItemFields.Creator}}')
            for _, c in ipairs(split(attrs[1])) do
              redis.call('ZINCRBY', catpop(c), ARGV[5], item)
              redis.call('ZINCRBY', KEYS[6], ARGV[4], c)
            end
            local owner = attrs[2]
            if not owner or owner == '' then owner = creator end
            if owner ~= '' then redis.call('ZINCRBY', KEYS[7], ARGV[4], owner) end

            local recent = redis.call('ZREVRANGE', KEYS[8], 0, {{OnlineKeys.CoOccurrenceWindow}})
            local co = cokey(item)
            local paired = 0
            for _, j in ipairs(recent) do
              if j ~= item and paired < {{OnlineKeys.CoOccurrenceWindow}} then
                paired = paired + 1
                redis.call('ZINCRBY', co, ARGV[4], j)
                local other = cokey(j)
                redis.call('ZINCRBY', other, ARGV[4], item)
                redis.call('ZREMRANGEBYRANK', other, 0, -{{OnlineKeys.CoOccurrenceKept + 1}})
              end
            end
            if paired > 0 then redis.call('ZREMRANGEBYRANK', co, 0, -{{OnlineKeys.CoOccurrenceKept + 1}}) end

            redis.call('ZADD', KEYS[8], 'GT', ts, item)
            redis.call('ZREMRANGEBYRANK', KEYS[8], 0, -{{OnlineKeys.RecentItemsKept + 1}})
          end
        end

        if typ == 'follow' then
          redis.call('SADD', KEYS[10], creator)
          redis.call('ZINCRBY', KEYS[7], 5, creator)
        end
        return 1
        """;

    /// <summary>
    /// Upserts one item. KEYS: item hash, all items, all categories, unavailable items.
    /// ARGV: id, categories joined, tags joined, created ms, available 1/0, creator or '', title, has title 1/0.
    /// </summary>
    public static readonly string UpsertItem = Prelude + $$"""

        local id = ARGV[1]
        local prev = redis.call('HMGET', KEYS[1], '{{ItemFields.Creator}}', '{{ItemFields.Categories}}')
        if prev[1] and prev[1] ~= '' and prev[1] ~= ARGV[6] then redis.call('ZREM', crkey(prev[1]), id) end
        local cats = split(ARGV[2])
        if prev[2] then
          local keep = {}
          for _, c in ipairs(cats) do keep[c] = true end
          for _, c in ipairs(split(prev[2])) do
            if not keep[c] then redis.call('ZREM', catpop(c), id) end
          end
        end
        redis.call('HSET', KEYS[1], '{{ItemFields.Categories}}', ARGV[2], '{{ItemFields.Tags}}', ARGV[3],
          '{{ItemFields.CreatedMs}}', ARGV[4], '{{ItemFields.Available}}', ARGV[5])
        if ARGV[6] ~= '' then
          redis.call('HSET', KEYS[1], '{{ItemFields.Creator}}', ARGV[6])
          redis.call('ZADD', crkey(ARGV[6]), ARGV[4], id)
        else
          redis.call('HDEL', KEYS[1], '{{ItemFields.Creator}}')
        end
        if ARGV[8] == '1' then
          redis.call('HSET', KEYS[1], '{{ItemFields.Title}}', ARGV[7])
        else
          redis.call('HDEL', KEYS[1], '{{ItemFields.Title}}')
        end
        redis.call('SADD', KEYS[2], id)
        for _, c in ipairs(cats) do redis.call('SADD', KEYS[3], c) end
        if ARGV[5] == '1' then redis.call('SREM', KEYS[4], id) else redis.call('SADD', KEYS[4], id) end
        return 1
        """;

    /// <summary>
    /// Moves the popularity epoch if it still equals ARGV[1]: scales trending and every category's popularity by ARGV[3]
    /// and stores ARGV[2]. KEYS: trending, epoch, all categories. Returns 1 when rebased, 0 when the epoch had moved.
    /// </summary>
    public static readonly string Rebase = Prelude + """

        local cur = redis.call('GET', KEYS[2])
        if (cur or '') ~= ARGV[1] then return 0 end
        redis.call('ZUNIONSTORE', KEYS[1], 1, KEYS[1], 'WEIGHTS', ARGV[3])
        for _, c in ipairs(redis.call('SMEMBERS', KEYS[3])) do
          local k = catpop(c)
          redis.call('ZUNIONSTORE', k, 1, k, 'WEIGHTS', ARGV[3])
        end
        redis.call('SET', KEYS[2], ARGV[2])
        return 1
        """;

    /// <summary>
    /// Advances the processor position if it still equals ARGV[1] ('' when unset) and counts the records.
    /// KEYS: position, stats. ARGV: expected, new position, records.
    /// Returns { 1, new position } on success, else { 0, the unexpected value ('' when the store lost it) }.
    /// </summary>
    public static readonly string Commit = $$"""
        local cur = redis.call('GET', KEYS[1])
        if (cur or '') ~= ARGV[1] then return { 0, cur or '' } end
        redis.call('SET', KEYS[1], ARGV[2])
        redis.call('HINCRBY', KEYS[2], '{{ProcessorKeys.RecordsApplied}}', ARGV[3])
        return { 1, ARGV[2] }
        """;

    private static string KeyFunction(string name, Func<string, string> key)
    {
        const string marker = "\u0001";
        var parts = key(marker).Split(marker);
        return string.Create(CultureInfo.InvariantCulture, $"local function {name}(x) return {Lua(parts[0])} .. x .. {Lua(parts[1])} end");
    }

    private static string Lua(string s) => "'" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";
}
