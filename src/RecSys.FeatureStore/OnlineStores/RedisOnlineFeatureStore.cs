using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Options;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.Registry;
using RecSys.FeatureStore.Streaming;
using RecSys.FeatureStore.Telemetry;
using StackExchange.Redis;

namespace RecSys.FeatureStore.OnlineStores;

/// <summary>
/// <see cref="IOnlineFeatureStore"/> on the Redis protocol (Redis, Garnet) with StackExchange.Redis: one pipelined batch
/// per fetch, one HMGET per entity hash with only the fields the requested features need, other reads (sorted sets,
/// cross features) in the same batch; values through the <see cref="FeatureL1Cache"/> when it is on.
/// </summary>
public sealed partial class RedisOnlineFeatureStore(
    IConnectionMultiplexer redis,
    IOptions<OnlineStoreOptions> options,
    FeatureStoreTelemetry metrics,
    TimeProvider time,
    ILogger<RedisOnlineFeatureStore> logger) : IOnlineFeatureStore
{
    private readonly FeatureL1Cache _cache = new(options.Value.L1CacheTtl, options.Value.L1CacheMaxEntries, time);
    private readonly long _staleLogTicks = (long)(options.Value.StaleLogInterval.TotalSeconds * time.TimestampFrequency);
    private readonly ConcurrentDictionary<string, long> _staleLogged = new(StringComparer.Ordinal);

    public async Task<IReadOnlyList<EntityFeatureValues>> GetAsync(OnlineFeatureQuery query, CancellationToken cancellationToken = default)
    {
        using var activity = FeatureStoreTelemetry.ActivitySource.StartActivity("fetch");
        var started = time.GetTimestamp();
        var now = time.GetUtcNow();
        var nowMs = now.ToUnixTimeMilliseconds();
        var plans = new Dictionary<string, KindPlan>(StringComparer.Ordinal);
        var results = new EntityFeatureValues[query.Entities.Count];
        var pending = new List<PendingEntity>(query.Entities.Count);
        IBatch? batch = null;
        Task<RedisValue>? epoch = null;
        string? embeddingVersion = null;
        long l1Hits = 0;
        var useL1 = _cache.Enabled && query.UseL1Cache;

        for (var e = 0; e < query.Entities.Count; e++)
        {
            var entity = query.Entities[e];
            if (!plans.TryGetValue(entity.Kind, out var plan))
            {
                plan = KindPlan.Create(entity.Kind, query.Features, nowMs);
                plans[entity.Kind] = plan;
            }

            var values = new FeatureValue[plan.Features.Count];
            results[e] = new EntityFeatureValues(entity, plan.Features, values);
            if (plan.Features.Count == 0)
            {
                continue;
            }

            if (useL1 && TryFromCache(entity, plan, values))
            {
                l1Hits += values.Length;
                continue;
            }

            batch ??= redis.GetDatabase().CreateBatch();
            if (plan.NeedsEpoch)
            {
                epoch ??= batch.StringGetAsync(OnlineKeys.TrendingEpoch);
            }

            if (plan.NeedsEmbeddingVersion && embeddingVersion is null)
            {
                // Resolved once per read, so that every embedding of the answer comes from one version.
                embeddingVersion = await ActiveEmbeddingVersionAsync(query.UseL1Cache, cancellationToken);
            }

            pending.Add(Send(batch, entity, plan, values, nowMs, embeddingVersion ?? EmbeddingKeys.Unversioned));
        }

        if (batch is not null)
        {
            batch.Execute();
            foreach (var p in pending)
            {
                if (p.Hash is not null)
                {
                    await p.Hash.WaitAsync(cancellationToken);
                }

                foreach (var read in p.Reads)
                {
                    await read.WaitAsync(cancellationToken);
                }
            }

            var epochMs = epoch is null ? (long?)null : await epoch is { IsNull: false } v ? (long)v : null;
            foreach (var p in pending)
            {
                Evaluate(p, epochMs, nowMs);
            }
        }

        long served = 0, defaults = 0;
        foreach (var result in results)
        {
            for (var i = 0; i < result.Values.Length; i++)
            {
                served++;
                ref var value = ref result.Values[i];
                var feature = result.Features[i];
                if (value.IsDefault)
                {
                    defaults++;
                }
                else if (value.IsStale)
                {
                    Stale(feature, result.Entity, value.EventTime!.Value, now);
                }
            }
        }

        if (useL1)
        {
            foreach (var p in pending)
            {
                var key = p.Entity.ToString();
                for (var i = 0; i < p.Values.Length; i++)
                {
                    _cache.Set(key, p.Plan.Features[i].Name, p.Values[i]);
                }
            }
        }

        metrics.FeaturesServed(served, defaults, l1Hits);
        metrics.OnlineFetched(time.GetElapsedTime(started));
        activity?.SetTag("recsys.features.entities", query.Entities.Count);
        activity?.SetTag("recsys.features.values", served);
        return results;
    }

    public async Task<bool[]> WriteIfNewerAsync(IReadOnlyList<FeatureWrite> writes, CancellationToken cancellationToken = default)
    {
        var batch = redis.GetDatabase().CreateBatch();
        var tasks = new Task<RedisResult>[writes.Count];
        for (var i = 0; i < writes.Count; i++)
        {
            var w = writes[i];
            tasks[i] = batch.ScriptEvaluateAsync(
                ReadScripts.WriteIfNewer,
                [OnlineKeys.Features(w.Entity.Kind, w.Entity.Id)],
                [w.Field, Number(w.Value), w.EventTime.ToUnixTimeMilliseconds()]);
        }

        batch.Execute();
        var landed = new bool[writes.Count];
        var refused = 0;
        for (var i = 0; i < tasks.Length; i++)
        {
            landed[i] = (long)await tasks[i].WaitAsync(cancellationToken) == 1;
            refused += landed[i] ? 0 : 1;
        }

        metrics.FeatureWritesRefused(refused);
        return landed;
    }

    /// <summary>
    /// The active embedding version: the pointer as last read when that was less than
    /// <see cref="OnlineStoreOptions.ActiveEmbeddingVersionCacheTtl"/> ago (and the query allows in-process caches), else read
    /// now. Either way one version for the whole read: a switch shows in the next reads, never within one.
    /// </summary>
    private async ValueTask<string> ActiveEmbeddingVersionAsync(bool mayUseCache, CancellationToken cancellationToken)
    {
        var ttl = options.Value.ActiveEmbeddingVersionCacheTtl;
        var now = time.GetTimestamp();
        if (mayUseCache && ttl > TimeSpan.Zero && Volatile.Read(ref _activeVersion) is { } cached && time.GetElapsedTime(cached.ReadAt, now) < ttl)
        {
            return cached.Version;
        }

        var active = await redis.GetDatabase().StringGetAsync(EmbeddingKeys.ActivePointer).WaitAsync(cancellationToken);
        var version = active.IsNullOrEmpty ? EmbeddingKeys.Unversioned : active.ToString();
        if (ttl > TimeSpan.Zero)
        {
            Volatile.Write(ref _activeVersion, new ActiveVersion(version, now));
        }

        return version;
    }

    // One immutable reference, replaced whole: a concurrent read sees an old or a new pair, never half of one.
    private ActiveVersion? _activeVersion;

    private sealed record ActiveVersion(string Version, long ReadAt);

    private bool TryFromCache(EntityRef entity, KindPlan plan, FeatureValue[] values)
    {
        var key = entity.ToString();
        for (var i = 0; i < values.Length; i++)
        {
            if (!_cache.TryGet(key, plan.Features[i].Name, out values[i]))
            {
                return false;
            }
        }

        return true;
    }

    private static readonly RedisValue[] EmaFields = [EmaEmbeddingFields.Vector, EmaEmbeddingFields.EventTimeMs];

    private static PendingEntity Send(IBatch batch, EntityRef entity, KindPlan plan, FeatureValue[] values, long nowMs, string embeddingVersion)
    {
        Task<RedisValue[]>? hash = plan.HashFields.Length > 0
            ? batch.HashGetAsync(OnlineKeys.Features(entity.Kind, entity.Id), plan.HashFields)
            : null;
        if (!plan.HasOtherReads)
        {
            return new PendingEntity(entity, plan, values, hash, []);
        }

        var reads = new Task[plan.Features.Count];
        Task<RedisResult>? cross = null;
        for (var i = 0; i < plan.Features.Count; i++)
        {
            var feature = plan.Features[i];
            reads[i] = feature.Transform switch
            {
                LastItemsTransform { Within: null } last =>
                    batch.SortedSetRangeByRankWithScoresAsync(OnlineKeys.UserRecent(entity.Id), 0, last.Count - 1, Order.Descending),
                LastItemsTransform { Within: { } within } last =>
                    batch.SortedSetRangeByScoreWithScoresAsync(OnlineKeys.UserRecent(entity.Id), nowMs - within.TotalMilliseconds, double.PositiveInfinity, Exclude.None, Order.Descending, 0, last.Count),
                DecayedPopularityTransform => batch.SortedSetScoreAsync(OnlineKeys.Trending, entity.Id),
                DistributionTransform => batch.HashGetAllAsync(FeatureFields.UserCategoryWindows(entity.Id)),
                TopAffinityTransform top => batch.SortedSetRangeByRankAsync(AffinityKey(top.Dimension, entity.Id), 0, top.Count - 1, Order.Descending),
                FollowsTransform => batch.SetMembersAsync(OnlineKeys.UserFollows(entity.Id)),
                ItemAttributeTransform attribute => batch.HashGetAsync(OnlineKeys.Item(entity.Id), attribute.Field),
                CrossAffinityTransform => cross ??= CrossRead(batch, entity),
                StoredEmbeddingTransform { Embedding: EmbeddingKind.Item } => batch.StringGetAsync(EmbeddingKeys.Item(embeddingVersion, entity.Id)),
                StoredEmbeddingTransform { Embedding: EmbeddingKind.UserBase } => batch.StringGetAsync(EmbeddingKeys.User(embeddingVersion, entity.Id)),
                EmaEmbeddingTransform => batch.HashGetAsync(EmbeddingKeys.UserEma(embeddingVersion, entity.Id), EmaFields),
                _ => Task.CompletedTask,
            };
        }

        return new PendingEntity(entity, plan, values, hash, reads);
    }

    private static Task<RedisResult> CrossRead(IBatch batch, EntityRef entity)
    {
        var colon = entity.Id.IndexOf(':', StringComparison.Ordinal);
        return batch.ScriptEvaluateAsync(ReadScripts.CrossAffinity, null, [entity.Id[..colon], entity.Id[(colon + 1)..]]);
    }

    private static RedisKey AffinityKey(ItemDimension dimension, string userId) => dimension == ItemDimension.Category
        ? OnlineKeys.UserCategoryAffinity(userId)
        : OnlineKeys.UserCreatorAffinity(userId);

    private static void Evaluate(PendingEntity p, long? epochMs, long nowMs)
    {
        var row = p.Hash?.Result;
        for (var i = 0; i < p.Values.Length; i++)
        {
            var feature = p.Plan.Features[i];
            var value = feature.Transform switch
            {
                AggregateTransform => Aggregate(row!, p.Plan.Aggregates[i][0]),
                RatioTransform => Ratio(row!, p.Plan.Aggregates[i][0], p.Plan.Aggregates[i][1]),
                LatestEventTimeTransform => Aggregate(row!, p.Plan.Aggregates[i][0]),
                _ => Read(feature, p.Reads[i], epochMs, nowMs),
            };
            p.Values[i] = Finish(feature, value, nowMs);
        }
    }

    /// <summary>Applies the TTL (too old: default) and the freshness check (too old: stale) to a value read.</summary>
    private static FeatureValue Finish(FeatureDefinition feature, FeatureValue? read, long nowMs)
    {
        if (read is not { } value)
        {
            return FeatureValue.Default(feature);
        }

        if (value.EventTime is { } t)
        {
            var age = TimeSpan.FromMilliseconds(nowMs - t.ToUnixTimeMilliseconds());
            if (feature.Ttl is { } ttl && age > ttl)
            {
                return FeatureValue.Default(feature);
            }

            if (feature.Freshness is { } freshness && age > freshness)
            {
                return value with { IsStale = true };
            }
        }

        return value;
    }

    private static FeatureValue? Aggregate(RedisValue[] row, AggregateSlots slots)
    {
        var time = Time(row[slots.TimeField]);
        if (slots.Buckets is null)
        {
            return TryNumber(row[slots.ValueField], out var total) ? new FeatureValue(total, null, time, false, false) : null;
        }

        if (time is null)
        {
            return null;
        }

        var sum = 0d;
        for (var b = 0; b < slots.Buckets.Length; b++)
        {
            if (ParseBucket(row[slots.BucketFields![b]], out var index, out var bucketSum) && index == slots.Buckets[b])
            {
                sum += bucketSum;
            }
        }

        return new FeatureValue(sum, null, time, false, false);
    }

    private static FeatureValue? Ratio(RedisValue[] row, AggregateSlots numeratorSlots, AggregateSlots denominatorSlots)
    {
        if (Aggregate(row, denominatorSlots) is not { Number: > 0 } denominator)
        {
            return null;
        }

        var numerator = Aggregate(row, numeratorSlots);
        var t1 = numerator?.EventTime;
        var t2 = denominator.EventTime;
        var latest = t1 is null ? t2 : t2 is null ? t1 : (t1 > t2 ? t1 : t2);
        return new FeatureValue((numerator?.Number ?? 0) / denominator.Number.Value, null, latest, false, false);
    }

    private static FeatureValue? Read(FeatureDefinition feature, Task task, long? epochMs, long nowMs)
    {
        switch (feature.Transform, task)
        {
            case (LastItemsTransform, Task<SortedSetEntry[]> entries):
                return entries.Result.Length == 0
                    ? null
                    : new FeatureValue(null, [.. entries.Result.Select(e => e.Element.ToString())], DateTimeOffset.FromUnixTimeMilliseconds((long)entries.Result[0].Score), false, false);
            case (DecayedPopularityTransform decay, Task<double?> score):
                return score.Result is { } s && epochMs is { } epoch
                    ? new FeatureValue(s * Math.Pow(2, -(nowMs - epoch) / decay.HalfLife.TotalMilliseconds), null, null, false, false)
                    : null;
            case (DistributionTransform distribution, Task<HashEntry[]> entries):
                return Distribution(distribution, entries.Result, nowMs);
            case (TopAffinityTransform, Task<RedisValue[]> members):
                return members.Result.Length == 0 ? null : new FeatureValue(null, [.. members.Result.Select(m => m.ToString())], null, false, false);
            case (FollowsTransform, Task<RedisValue[]> members):
                return members.Result.Length == 0
                    ? null
                    : new FeatureValue(null, [.. members.Result.Select(m => m.ToString()).Order(StringComparer.Ordinal)], null, false, false);
            case (ItemAttributeTransform, Task<RedisValue> field):
                return field.Result.IsNull
                    ? null
                    : new FeatureValue(null, field.Result.ToString().Split(ItemFields.ListSeparator, StringSplitOptions.RemoveEmptyEntries), null, false, false);
            case (CrossAffinityTransform cross, Task<RedisResult> result):
                return Cross(cross, (RedisResult[])result.Result!);
            case (StoredEmbeddingTransform, Task<RedisValue> bytes):
                return bytes.Result.IsNull || EmbeddingBytes.FromBytes((byte[])bytes.Result!) is not { } stored
                    ? null
                    : FeatureValue.OfVector(stored, null);
            case (EmaEmbeddingTransform, Task<RedisValue[]> fields):
                return fields.Result[0].IsNull || EmbeddingBytes.FromBytes((byte[])fields.Result[0]!) is not { } moved
                    ? null
                    : FeatureValue.OfVector(moved, Time(fields.Result[1]));
            default:
                return null;
        }
    }

    private static FeatureValue? Distribution(DistributionTransform distribution, HashEntry[] entries, long nowMs)
    {
        var ring = distribution.Window.Ring;
        var nowBucket = ring.BucketIndex(nowMs);
        var sums = new Dictionary<string, double>(StringComparer.Ordinal);
        var total = 0d;
        foreach (var entry in entries)
        {
            var name = entry.Name.ToString();
            var separator = name.LastIndexOf(FeatureFields.RingSeparator);
            if (separator <= 0 || !ParseBucket(entry.Value, out var index, out var sum)
                || index > nowBucket || index <= nowBucket - distribution.Window.Buckets)
            {
                continue;
            }

            var category = name[..separator];
            sums[category] = sums.GetValueOrDefault(category) + sum;
            total += sum;
        }

        if (total <= 0)
        {
            return null;
        }

        return new FeatureValue(null, [.. sums.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Take(distribution.Count)
            .Select(kv => kv.Key + "=" + (kv.Value / total).ToString("0.####", CultureInfo.InvariantCulture))], null, false, false);
    }

    private static FeatureValue? Cross(CrossAffinityTransform cross, RedisResult[] reply)
    {
        // reply: user's engagement total, largest engagement on one of the item's categories, engagement with its creator.
        if (cross.Dimension == ItemDimension.Category)
        {
            return TryNumber((RedisValue)reply[0], out var total) && total > 0 && TryNumber((RedisValue)reply[1], out var best)
                ? new FeatureValue(best / total, null, null, false, false)
                : null;
        }

        return TryNumber((RedisValue)reply[2], out var creator) ? new FeatureValue(creator, null, null, false, false) : null;
    }

    private void Stale(FeatureDefinition feature, EntityRef entity, DateTimeOffset eventTime, DateTimeOffset now)
    {
        metrics.StaleValueServed(feature.Name);
        var ticks = time.GetTimestamp();
        var last = _staleLogged.GetOrAdd(feature.Name, long.MinValue);
        if ((last == long.MinValue || ticks - last >= _staleLogTicks) && _staleLogged.TryUpdate(feature.Name, ticks, last))
        {
            LogStale(logger, feature.Name, entity.ToString(), now - eventTime, feature.Freshness!.Value);
        }
    }

    internal static bool ParseBucket(RedisValue value, out long index, out double sum)
    {
        index = 0;
        sum = 0;
        if (value.IsNull)
        {
            return false;
        }

        var text = value.ToString();
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        return colon > 0
            && long.TryParse(text.AsSpan(0, colon), NumberStyles.Integer, CultureInfo.InvariantCulture, out index)
            && double.TryParse(text.AsSpan(colon + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out sum);
    }

    private static bool TryNumber(RedisValue value, out double number)
    {
        number = 0;
        return !value.IsNull && value.TryParse(out number);
    }

    private static DateTimeOffset? Time(RedisValue value) =>
        !value.IsNull && value.TryParse(out long ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    [LoggerMessage(EventId = 400, Level = LogLevel.Warning, Message = "Stale feature {Feature} of {Entity}: {Age} old, freshness requirement {Freshness} (logged at most once per interval per feature)")]
    private static partial void LogStale(ILogger logger, string feature, string entity, TimeSpan age, TimeSpan freshness);

    private sealed record PendingEntity(EntityRef Entity, KindPlan Plan, FeatureValue[] Values, Task<RedisValue[]>? Hash, Task[] Reads);

    /// <summary>Where one aggregate's fields sit in the HMGET reply: time, all-time value, or the window's buckets.</summary>
    private sealed record AggregateSlots(int TimeField, int ValueField, long[]? Buckets, int[]? BucketFields);

    /// <summary>The requested features of one entity kind and the feature-hash fields they need (computed once per fetch).</summary>
    private sealed class KindPlan
    {
        private static readonly AggregateTransform LatestCounter = new(FeatureFields.LastEventMs, [], EventAmount.One, null);

        private KindPlan(List<FeatureDefinition> features, RedisValue[] hashFields, AggregateSlots[][] aggregates, bool needsEpoch, bool hasOtherReads)
        {
            Features = features;
            HashFields = hashFields;
            Aggregates = aggregates;
            NeedsEpoch = needsEpoch;
            HasOtherReads = hasOtherReads;
        }

        public IReadOnlyList<FeatureDefinition> Features { get; }

        public RedisValue[] HashFields { get; }

        /// <summary>Per feature: its aggregate (or numerator and denominator) slots; empty for other transforms.</summary>
        public AggregateSlots[][] Aggregates { get; }

        public bool NeedsEpoch { get; }

        public bool HasOtherReads { get; }

        /// <summary>An embedding feature is asked for: its key depends on the active embedding version.</summary>
        public bool NeedsEmbeddingVersion => _needsEmbeddingVersion ??= Features.Any(f => f.Transform is StoredEmbeddingTransform or EmaEmbeddingTransform);

        private bool? _needsEmbeddingVersion;

        public static KindPlan Create(string kind, IReadOnlyList<FeatureDefinition> all, long nowMs)
        {
            var features = all.Where(f => f.EntityKind == kind).ToList();
            var fields = new Dictionary<string, int>(StringComparer.Ordinal);
            int Field(string name) => fields.TryGetValue(name, out var index) ? index : fields[name] = fields.Count;
            AggregateSlots Add(AggregateTransform a)
            {
                var time = Field(a.Counter + FeatureFields.TimeSuffix);
                if (a.Window is not { } window)
                {
                    return new AggregateSlots(time, Field(a.Counter), null, null);
                }

                var ring = window.Ring;
                var now = ring.BucketIndex(nowMs);
                var buckets = new long[window.Buckets];
                var bucketFields = new int[window.Buckets];
                for (var b = 0; b < buckets.Length; b++)
                {
                    buckets[b] = now - window.Buckets + 1 + b;
                    bucketFields[b] = Field(ring.Field(a.Counter, buckets[b]));
                }

                return new AggregateSlots(time, -1, buckets, bucketFields);
            }

            var aggregates = features.Select(f => f.Transform switch
            {
                AggregateTransform a => [Add(a)],
                RatioTransform r => [Add(r.Numerator), Add(r.Denominator)],
                LatestEventTimeTransform => [Add(LatestCounter)],
                _ => Array.Empty<AggregateSlots>(),
            }).ToArray();

            var hashFields = new RedisValue[fields.Count];
            foreach (var (field, index) in fields)
            {
                hashFields[index] = field;
            }

            return new KindPlan(
                features,
                hashFields,
                aggregates,
                features.Any(f => f.Transform is DecayedPopularityTransform),
                features.Any(f => f.Transform is not (AggregateTransform or RatioTransform or LatestEventTimeTransform)));
        }
    }
}
