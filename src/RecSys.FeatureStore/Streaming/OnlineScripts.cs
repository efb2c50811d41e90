using System.Globalization;
using RecSys.FeatureStore.Keys;

namespace RecSys.FeatureStore.Streaming;

/// <summary>
/// The Lua scripts that apply log records to the online store. Key shapes and field names are generated from
/// <see cref="OnlineKeys"/> and <see cref="ItemFields"/>, so the scripts cannot drift from the layout readers use.
/// Checked against Garnet 2.2.8 (<c>--lua true</c>): keys computed inside a script, SET NX EX, ZADD GT, ZUNIONSTORE WEIGHTS.
/// Every write script declares the fence key (<see cref="ProcessorKeys.Fence"/>) in KEYS and checks its token first: Garnet
/// serializes scripts only on the keys they declare, so the declared fence is what orders a stale writer's scripts against
/// the <see cref="TakeFence"/> of a new one (on Redis every script is atomic anyway). Garnet does that only with
/// <c>--lua-transaction-mode</c>, which the online store host does not set: there a stale script already past its check
/// can still run beside the new writer's (docs/ingestion-benchmarks.md, "Fencing on Garnet").
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

    /// <summary>Number of ARGV entries per event of <see cref="ApplyEvents"/>.</summary>
    public const int EventArgCount = 9;

    /// <summary>
    /// Applies a chunk of interaction events in order, each exactly once: its dedupe marker is set (NX, with a TTL) in the
    /// same script as its effects, and the processor totals count it as applied or duplicate. The counters of the feature
    /// hashes are gathered per hash and written once at the end of the call, as the events in order would leave them. Keys are computed inside
    /// (Garnet's per-key cost of KEYS is higher than building them here); KEYS holds only the fence. ARGV: fencing token, marker ttl s, then per
    /// event <see cref="EventArgCount"/> values: event id, user id, item id or '', creator id or '', type, event time ms,
    /// engagement, decayed weight, marks seen 1/0. Returns per event 1 when applied, 0 when a duplicate, <see cref="DeletedUser"/>
    /// when its user is deleted (<see cref="OnlineKeys.DeletedUsers"/>: nothing written, not even the marker); the integer
    /// <see cref="Fenced"/> (and changes nothing) when the token is no longer the current one.
    /// </summary>
    public static readonly string ApplyEvents = Prelude + $$"""

        {{KeyFunction("evkey", OnlineKeys.AppliedEvent)}}
        {{KeyFunction("ufeat", id => OnlineKeys.Features(EntityKinds.User, id))}}
        {{KeyFunction("ifeat", id => OnlineKeys.Features(EntityKinds.Item, id))}}
        {{KeyFunction("cfeat", id => OnlineKeys.Features(EntityKinds.Creator, id))}}
        {{KeyFunction("ucatw", FeatureFields.UserCategoryWindows)}}
        {{KeyFunction("itkey", OnlineKeys.Item)}}
        {{KeyFunction("ucats", OnlineKeys.UserCategoryAffinity)}}
        {{KeyFunction("ucreators", OnlineKeys.UserCreatorAffinity)}}
        {{KeyFunction("urecent", OnlineKeys.UserRecent)}}
        {{KeyFunction("useen", OnlineKeys.UserSeen)}}
        {{KeyFunction("ufollows", OnlineKeys.UserFollows)}}
        local TRENDING = {{Lua(OnlineKeys.Trending)}}
        local STATS = {{Lua(ProcessorKeys.Stats)}}
        local DELETED = {{Lua(OnlineKeys.DeletedUsers)}}
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {{Fenced}} end
        local ttl = ARGV[2]

        local function num(v)
          if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format('%d', v) end
          return string.format('%.17g', v)
        end

        -- Rings of time buckets per counter: { field prefix, bucket ms, slots } (FeatureFields.Rings).
        local RINGS = { {{RingTable()}} }

        -- Adds w to the bucket idx of a ring slot whose current value is cur ('idx:sum' or nil). Returns the new value,
        -- or nil when the slot holds a newer bucket (this one is outside every window the ring serves).
        local function bucket(cur, idx, w)
          if cur then
            local p, v = string.match(cur, '^(-?%d+):(.*)$')
            p = tonumber(p)
            if p == idx then return idx .. ':' .. num(tonumber(v) + w) end
            if p > idx then return nil end
          end
          return idx .. ':' .. num(w)
        end

        -- incs: { field, amount, ringed }. Changes are gathered per feature hash in event order and written at the end of
        -- the call (write), so a hash that several events touch (a served list's impressions are one user's) costs one
        -- HMGET and one HSET per call instead of per event.
        local pending = {}
        local touched = {}
        local function counters(key, incs, t, ts)
          local changes = pending[key]
          if not changes then
            changes = {}
            pending[key] = changes
            touched[#touched + 1] = key
          end
          changes[#changes + 1] = { incs, t, ts }
        end

        local LAST = '{{FeatureFields.LastEventMs}}'
        local LAST_T = '{{FeatureFields.LastEventMs}}{{FeatureFields.TimeSuffix}}'

        -- Field names of a counter at an event time: { field, field@t, then per ring its slot's field and bucket index },
        -- made once per counter and time in a call (a call's events mostly share their time buckets).
        local named = {}
        local function names(f, t)
          local n = named[f[1]]
          if n and n.t == t and (#n > 2) == f[3] then return n end
          n = { f[1], f[1] .. '{{FeatureFields.TimeSuffix}}', t = t }
          if f[3] then
            for _, r in ipairs(RINGS) do
              local idx = math.floor(t / r[2])
              n[#n + 1] = f[1] .. '{{FeatureFields.RingSeparator}}' .. r[1] .. (idx % r[3])
              n[#n + 1] = idx
            end
          end
          named[f[1]] = n
          return n
        end

        -- A hash one event changes: one HMGET and one HSET; each counter is added to, its time buckets too when ringed
        -- (only counters that windowed features read), and its time (field@t) moves to t if later; last_event_ms is the
        -- latest event time.
        local function writeOne(key, incs, t, ts)
          local fields = {}
          local ns = {}
          for i, f in ipairs(incs) do
            local n = names(f, t)
            ns[i] = n
            fields[#fields + 1] = n[1]
            fields[#fields + 1] = n[2]
            for k = 3, #n, 2 do fields[#fields + 1] = n[k] end
          end
          fields[#fields + 1] = LAST
          local cur = redis.call('HMGET', key, unpack(fields))
          local set = {}
          local b = 0
          for i, f in ipairs(incs) do
            local n, w = ns[i], f[2]
            set[#set + 1] = n[1]
            set[#set + 1] = num((tonumber(cur[b + 1]) or 0) + w)
            local prev = tonumber(cur[b + 2])
            if not prev or t > prev then set[#set + 1] = n[2]; set[#set + 1] = ts end
            b = b + 2
            for k = 3, #n, 2 do
              b = b + 1
              local v = bucket(cur[b], n[k + 1], w)
              if v then set[#set + 1] = n[k]; set[#set + 1] = v end
            end
          end
          local last = tonumber(cur[#fields])
          if not last or t > last then
            set[#set + 1] = LAST; set[#set + 1] = ts
            set[#set + 1] = LAST_T; set[#set + 1] = ts
          end
          redis.call('HSET', key, unpack(set))
        end

        -- A hash several events change: one HMGET of every field they read, the changes applied in event order to the
        -- values read, exactly as one read and write per event would leave them (a value's text is what the next change
        -- reads: num() round-trips), then one HSET of the fields whose value moved.
        local function write(key, changes)
          if #changes == 1 then
            local c = changes[1]
            return writeOne(key, c[1], c[2], c[3])
          end
          local fields = { LAST }
          local at = { [LAST] = 1 }
          local function want(f)
            if not at[f] then
              fields[#fields + 1] = f
              at[f] = #fields
            end
          end
          local perChange = {}
          for j, c in ipairs(changes) do
            local ns = {}
            for i, f in ipairs(c[1]) do
              local n = names(f, c[2])
              want(n[1]); want(n[2])
              for k = 3, #n, 2 do want(n[k]) end
              ns[i] = n
            end
            perChange[j] = ns
          end
          local got = redis.call('HMGET', key, unpack(fields))
          local val = {}
          for i, f in ipairs(fields) do val[f] = got[i] end
          for j, c in ipairs(changes) do
            local t, ts, ns = c[2], c[3], perChange[j]
            for i, f in ipairs(c[1]) do
              local n, w = ns[i], f[2]
              val[n[1]] = num((tonumber(val[n[1]]) or 0) + w)
              local prev = tonumber(val[n[2]])
              if not prev or t > prev then val[n[2]] = ts end
              for k = 3, #n, 2 do
                local v = bucket(val[n[k]], n[k + 1], w)
                if v then val[n[k]] = v end
              end
            end
            local last = tonumber(val[LAST])
            if not last or t > last then val[LAST] = ts end
          end
          local set = {}
          for i, f in ipairs(fields) do
            if val[f] ~= got[i] then
              set[#set + 1] = f
              set[#set + 1] = val[f]
            end
          end
          if val[LAST] ~= got[1] then
            set[#set + 1] = LAST_T
            set[#set + 1] = val[LAST]
          end
          redis.call('HSET', key, unpack(set))
        end

        -- The user's engagement per category in the day ring of FeatureFields.UserCategoryWindows.
        local CR = RINGS[{{CategoryRingIndex()}}]
        local function catwindows(user, cats, t, w)
          local day = math.floor(t / CR[2])
          local fields = {}
          for i, c in ipairs(cats) do fields[i] = c .. '{{FeatureFields.RingSeparator}}' .. CR[1] .. (day % CR[3]) end
          local cur = redis.call('HMGET', ucatw(user), unpack(fields))
          local set = {}
          for i, f in ipairs(fields) do
            local v = bucket(cur[i], day, w)
            if v then set[#set + 1] = f; set[#set + 1] = v end
          end
          if #set > 0 then redis.call('HSET', ucatw(user), unpack(set)) end
        end

        local deletedUsers = {}
        local IMPRESSION = { { '{{FeatureFields.EventsTotal}}', 1, false }, { '{{FeatureFields.ImpressionsTotal}}', 1, true } }
        local function apply(b)
          local user, item, creator, typ = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
          local ts, ws, decayed, seen = ARGV[b + 5], ARGV[b + 6], ARGV[b + 7], ARGV[b + 8]
          -- A deleted user's event is never applied (not even marked: it changes nothing), checked in the same script
          -- as the writes so that a deletion cannot fall between the check and them; asked once per user and call
          -- (nothing in the call deletes a user).
          local gone = deletedUsers[user]
          if gone == nil then
            gone = redis.call('SISMEMBER', DELETED, user) == 1
            deletedUsers[user] = gone
          end
          if gone then return {{DeletedUser}} end
          if not redis.call('SET', evkey(ARGV[b]), '1', 'NX', 'EX', ttl) then return 0 end
          local t = tonumber(ts)
          local w = tonumber(ws)

          -- An impression (no engagement) adds the same to its user and item: one shared, never modified, list.
          local plain = typ == 'impression' and w <= 0
          local u = plain and IMPRESSION or { { '{{FeatureFields.EventsTotal}}', 1, false } }
          if plain then
          elseif typ == 'click' then u[#u + 1] = { '{{FeatureFields.ClicksTotal}}', 1, true }
          elseif typ == 'impression' then u[#u + 1] = { '{{FeatureFields.ImpressionsTotal}}', 1, true }
          elseif typ == 'view' then u[#u + 1] = { '{{FeatureFields.ViewsTotal}}', 1, true } end
          if w > 0 then u[#u + 1] = { '{{FeatureFields.EngagementTotal}}', w, true } end
          counters(ufeat(user), u, t, ts)

          if item ~= '' then
            local it = plain and IMPRESSION or { { '{{FeatureFields.EventsTotal}}', 1, false } }
            if plain then
            elseif typ == 'impression' then it[#it + 1] = { '{{FeatureFields.ImpressionsTotal}}', 1, true }
            elseif typ == 'view' then it[#it + 1] = { '{{FeatureFields.ViewsTotal}}', 1, true }
            elseif typ == 'click' then it[#it + 1] = { '{{FeatureFields.ClicksTotal}}', 1, true } end
            if w > 0 then it[#it + 1] = { '{{FeatureFields.EngagementTotal}}', w, true } end
            counters(ifeat(item), it, t, ts)

            if seen == '1' then redis.call('SADD', useen(user), item) end

            if w > 0 then
              redis.call('ZINCRBY', TRENDING, decayed, item)
              local attrs = redis.call('HMGET', itkey(item), '{{ItemFields.Categories}}', '{{ItemFields.Creator}}')
              local cats = split(attrs[1])
              if #cats > 0 then
                local affinity = ucats(user)
                for _, c in ipairs(cats) do
                  redis.call('ZINCRBY', catpop(c), decayed, item)
                  redis.call('ZINCRBY', affinity, ws, c)
                end
                catwindows(user, cats, t, w)
              end
              local owner = attrs[2]
              if not owner or owner == '' then owner = creator end
              if owner ~= '' then
                redis.call('ZINCRBY', ucreators(user), ws, owner)
                counters(cfeat(owner), { { '{{FeatureFields.EngagedTotal}}', 1, false }, { '{{FeatureFields.EngagementTotal}}', w, true } }, t, ts)
              end

              local recentKey = urecent(user)
              local recent = redis.call('ZREVRANGE', recentKey, 0, {{OnlineKeys.CoOccurrenceWindow}})
              local others = {}
              for _, j in ipairs(recent) do
                if j ~= item and #others < {{OnlineKeys.CoOccurrenceWindow}} then others[#others + 1] = j end
              end
              if #others > 0 then
                local co = cokey(item)
                -- One read and one write for the item's own set; one increment per partner's set.
                local scores = redis.call('ZMSCORE', co, unpack(others))
                local update = {}
                for k, j in ipairs(others) do
                  update[#update + 1] = num((tonumber(scores[k]) or 0) + w)
                  update[#update + 1] = j
                  -- Only a new member (score = w after the increment) can grow a set past the kept size.
                  local other = cokey(j)
                  if tonumber(redis.call('ZINCRBY', other, ws, item)) == w then
                    redis.call('ZREMRANGEBYRANK', other, 0, -{{OnlineKeys.CoOccurrenceKept + 1}})
                  end
                end
                if redis.call('ZADD', co, unpack(update)) > 0 then
                  redis.call('ZREMRANGEBYRANK', co, 0, -{{OnlineKeys.CoOccurrenceKept + 1}})
                end
              end

              -- Sets grow only by new members: trim only then.
              if redis.call('ZADD', recentKey, 'GT', ts, item) > 0 then
                redis.call('ZREMRANGEBYRANK', recentKey, 0, -{{OnlineKeys.RecentItemsKept + 1}})
              end
            end
          end

          if typ == 'follow' then
            redis.call('SADD', ufollows(user), creator)
            redis.call('ZINCRBY', ucreators(user), 5, creator)
          end
          return 1
        end

        local results = {}
        local applied = 0
        local deleted = 0
        for b = 3, #ARGV, {{EventArgCount}} do
          local r = apply(b)
          if r == {{DeletedUser}} then deleted = deleted + 1 else applied = applied + r end
          results[#results + 1] = r
        end
        for _, key in ipairs(touched) do write(key, pending[key]) end
        redis.call('HINCRBY', STATS, '{{ProcessorKeys.EventsApplied}}', applied)
        redis.call('HINCRBY', STATS, '{{ProcessorKeys.DuplicatesSkipped}}', #results - applied - deleted)
        if deleted > 0 then redis.call('HINCRBY', STATS, '{{ProcessorKeys.DeletedUserSkipped}}', deleted) end
        return results
        """;

    /// <summary>
    /// Upserts one item. KEYS: item hash, all items, all categories, unavailable items, fence.
    /// ARGV: id, categories joined, tags joined, created ms, available 1/0, creator or '', title, has title 1/0, fencing
    /// token. Returns 1, or <see cref="Fenced"/> without a change when the token is not the current one.
    /// </summary>
    public static readonly string UpsertItem = Prelude + $$"""

        if redis.call('GET', KEYS[5]) ~= ARGV[9] then return {{Fenced}} end
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
    /// and stores ARGV[2]. KEYS: trending, epoch, all categories, fence; ARGV[4]: fencing token. Returns 1 when rebased, 0 when
    /// the epoch had moved, <see cref="Fenced"/> when the token is not the current one.
    /// </summary>
    public static readonly string Rebase = Prelude + $$"""

        if redis.call('GET', KEYS[4]) ~= ARGV[4] then return {{Fenced}} end
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
    /// KEYS: position, stats, fence. ARGV: expected, new position, records, fencing token.
    /// Returns { 1, new position } on success, { 0, the unexpected value ('' when the store lost it) }, or
    /// { <see cref="Fenced"/>, current token } when the token is not the current one (nothing written).
    /// </summary>
    public static readonly string Commit = $$"""
        local fence = redis.call('GET', KEYS[3])
        if fence ~= ARGV[4] then return { {{Fenced}}, fence or '' } end
        local cur = redis.call('GET', KEYS[1])
        if (cur or '') ~= ARGV[1] then return { 0, cur or '' } end
        redis.call('SET', KEYS[1], ARGV[2])
        redis.call('HINCRBY', KEYS[2], '{{ProcessorKeys.RecordsApplied}}', ARGV[3])
        return { 1, ARGV[2] }
        """;

    /// <summary>
    /// Takes the lease for ARGV[1] for ARGV[2] ms when it is free or already ARGV[1]'s. KEYS: lease.
    /// Returns { 1, ttl ms } when taken, { 0, remaining ms of the holder's lease, holder } when someone else holds it.
    /// </summary>
    public const string AcquireLease = """
        local holder = redis.call('GET', KEYS[1])
        if holder and holder ~= ARGV[1] then return { 0, redis.call('PTTL', KEYS[1]), holder } end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return { 1, tonumber(ARGV[2]) }
        """;

    /// <summary>
    /// Extends the lease of ARGV[1] by ARGV[2] ms while its fencing token ARGV[3] is current and nobody else took the lease.
    /// KEYS: lease, fence. Returns 1 when renewed, 0 when the lease or the token is someone else's.
    /// </summary>
    public const string RenewLease = """
        if redis.call('GET', KEYS[2]) ~= ARGV[3] then return 0 end
        local holder = redis.call('GET', KEYS[1])
        if holder and holder ~= ARGV[1] then return 0 end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return 1
        """;

    /// <summary>Gives the lease up if ARGV[1] holds it. KEYS: lease. Returns 1 when released.</summary>
    public const string ReleaseLease = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]); return 1 end
        return 0
        """;

    /// <summary>
    /// Stores a user's moved embedding if its version (<c>t/e</c>: event time and event id folded in last, '' when there
    /// is none) is still ARGV[2]: a new base embedding removed it, or nothing changed it since it was read.
    /// KEYS: the user's EMA hash, fence, deleted users. ARGV: fencing token, expected version, vector bytes, event time ms,
    /// event id, user id. Returns 1 when stored, 0 when the version moved, <see cref="DeletedUser"/> (nothing stored) when the
    /// user is deleted, <see cref="Fenced"/> when the token is not the current one.
    /// </summary>
    public static readonly string SetEmaEmbedding = $$"""
        if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {{Fenced}} end
        if redis.call('SISMEMBER', KEYS[3], ARGV[6]) == 1 then return {{DeletedUser}} end
        local cur = redis.call('HMGET', KEYS[1], '{{EmaEmbeddingFields.EventTimeMs}}', '{{EmaEmbeddingFields.EventId}}')
        local version = ''
        if cur[1] then version = cur[1] .. '/' .. (cur[2] or '') end
        if version ~= ARGV[2] then return 0 end
        redis.call('HSET', KEYS[1], '{{EmaEmbeddingFields.Vector}}', ARGV[3], '{{EmaEmbeddingFields.EventTimeMs}}', ARGV[4],
          '{{EmaEmbeddingFields.EventId}}', ARGV[5])
        return 1
        """;

    /// <summary>Takes the next fencing token. KEYS: fence.</summary>
    public const string TakeFence = """
        return redis.call('INCR', KEYS[1])
        """;

    /// <summary>What a write script returns, instead of writing, when its fencing token is no longer the current one.</summary>
    public const int Fenced = -1;

    /// <summary>What a per-user write returns, instead of writing, when the user is deleted.</summary>
    public const int DeletedUser = 2;

    private static string RingTable() => string.Join(", ", FeatureFields.Rings.Select(r =>
        string.Create(CultureInfo.InvariantCulture, $"{{ {Lua(r.Prefix)}, {r.BucketMs}, {r.Slots} }}")));

    private static string CategoryRingIndex() =>
        (FeatureFields.Rings.ToList().IndexOf(FeatureFields.CategoryRing) + 1).ToString(CultureInfo.InvariantCulture);

    private static string KeyFunction(string name, Func<string, string> key)
    {
        const string marker = "\u0001";
        var parts = key(marker).Split(marker);
        return string.Create(CultureInfo.InvariantCulture, $"local function {name}(x) return {Lua(parts[0])} .. x .. {Lua(parts[1])} end");
    }

    private static string Lua(string s) => "'" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";
}
