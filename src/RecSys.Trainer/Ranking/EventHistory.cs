using RecSys.Core.Contracts;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.Registry;
using RecSys.Ranking.Features;

namespace RecSys.Trainer.Ranking;

/// <summary>One usable event of the log: who, what, when (unix ms), of which type and engagement weight.</summary>
internal readonly record struct HistoryEvent(string UserId, string? ItemId, long TimeMs, EventType Type, double Weight);

/// <summary>
/// The offline form of the registry features the ranking catalog reads, computed from the event log as of any time: every
/// value counts only the events at or before that time, so a training row sees what the online store held then (no leakage).
/// The semantics follow the online store's write path (src/RecSys.FeatureStore/Streaming/OnlineScripts.cs) and read path
/// (RedisOnlineFeatureStore): all-time counters over every event, engagement = <see cref="EventTypes.EngagementWeight"/> of
/// events with a positive weight, windows as day buckets ending in the bucket of the read time, decayed popularity with
/// half-life <see cref="DecayedScore.HalfLife"/>, windowed values defaulted past their TTL (the window's length since the latest
/// contributing event), catalogue items without categories as an empty list, recent items = items of positive-weight events by their latest time, newest
/// first (50 kept), session items = those within the last 30 minutes (20 kept). The parity test checks this against Garnet.
/// </summary>
internal sealed class EventHistory
{
    private const int RecentKept = OnlineKeys.RecentItemsKept;
    private const int SessionKept = 20;
    private static readonly long SessionMs = (long)TimeSpan.FromMinutes(30).TotalMilliseconds;
    private static readonly double HalfLifeMs = DecayedScore.HalfLife.TotalMilliseconds;

    private readonly Dictionary<string, EntityTimeline> _users = new(StringComparer.Ordinal);
    private readonly Dictionary<string, EntityTimeline> _items = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IReadOnlyList<string>> _categories;

    public EventHistory(IEnumerable<HistoryEvent> events, IReadOnlyDictionary<string, IReadOnlyList<string>> itemCategories)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(itemCategories);
        _categories = new Dictionary<string, IReadOnlyList<string>>(itemCategories, StringComparer.Ordinal);
        var users = new Dictionary<string, List<HistoryEvent>>(StringComparer.Ordinal);
        var items = new Dictionary<string, List<HistoryEvent>>(StringComparer.Ordinal);
        foreach (var e in events)
        {
            Add(users, e.UserId, e);
            if (e.ItemId is { Length: > 0 } item && !e.Type.TargetsCreator())
            {
                Add(items, item, e);
            }
        }

        foreach (var (id, list) in users)
        {
            _users[id] = new EntityTimeline(list);
        }

        foreach (var (id, list) in items)
        {
            _items[id] = new EntityTimeline(list);
        }
    }

    /// <summary>User embeddings (the ALS model fitted before the label window), by user id.</summary>
    public IReadOnlyDictionary<string, float[]>? UserEmbeddings { get; set; }

    /// <summary>Item embeddings of the same model, by item id.</summary>
    public IReadOnlyDictionary<string, float[]>? ItemEmbeddings { get; set; }

    /// <summary>Converts ingestion DTOs; events without a user, a known type or a time are skipped.</summary>
    public static IEnumerable<HistoryEvent> FromDtos(IEnumerable<EventDto> events)
    {
        foreach (var e in events)
        {
            if (string.IsNullOrWhiteSpace(e.UserId) || e.EventTime is not { } time || !EventTypes.TryParse(e.Type, out var type))
            {
                continue;
            }

            yield return new HistoryEvent(e.UserId, e.ItemId, time.ToUnixTimeMilliseconds(), type, EventTypes.EngagementWeight(type, e.Value));
        }
    }

    /// <summary>
    /// The user's values as of <paramref name="asOfMs"/>; with <paramref name="withoutSession"/> the session items are left out, as
    /// the store serves a user whose last event is older than the session gap (the training side of session-feature dropout).
    /// </summary>
    public EntityValues UserAsOf(string userId, long asOfMs, bool withoutSession = false)
    {
        var values = new EntityValues();
        if (_users.TryGetValue(userId, out var timeline))
        {
            var n = timeline.CountAtOrBefore(asOfMs);
            if (n > 0)
            {
                values.SetNumber(RankingFeatureCatalog.UserEventsTotal, n);
                values.SetNumber(RankingFeatureCatalog.UserEngagementTotal, timeline.EngagementPrefix[n]);
                values.SetNumber(RankingFeatureCatalog.UserLastEventMs, timeline.Events[n - 1].TimeMs);
                var recent = timeline.LatestPositiveItems(n, long.MinValue, RecentKept);
                if (recent.Count > 0)
                {
                    values.SetIds(RankingFeatureCatalog.UserRecentItems, recent);
                }

                var session = withoutSession ? [] : timeline.LatestPositiveItems(n, asOfMs - SessionMs, SessionKept);
                if (session.Count > 0)
                {
                    values.SetIds(RankingFeatureCatalog.UserSessionItems, session);
                }
            }
        }

        if (UserEmbeddings is { } embeddings && embeddings.TryGetValue(userId, out var vector))
        {
            values.SetVector(RankingFeatureCatalog.UserEmbedding, vector);
        }

        return values;
    }

    public EntityValues ItemAsOf(string itemId, long asOfMs)
    {
        var values = new EntityValues();
        if (_items.TryGetValue(itemId, out var timeline))
        {
            var n = timeline.CountAtOrBefore(asOfMs);
            if (n > 0)
            {
                values.SetNumber(RankingFeatureCatalog.ItemEventsTotal, n);
                values.SetNumber(RankingFeatureCatalog.ItemEngagementTotal, timeline.EngagementPrefix[n]);
                foreach (var (name, window) in new[] { (RankingFeatureCatalog.ItemEngagement7d, FeatureWindow.SevenDays), (RankingFeatureCatalog.ItemEngagement30d, FeatureWindow.ThirtyDays) })
                {
                    if (timeline.WindowEngagement(n, asOfMs, window) is { } engagement)
                    {
                        values.SetNumber(name, engagement);
                    }
                }
                if (timeline.DecayedPopularity(n, asOfMs) is { } popularity)
                {
                    values.SetNumber(RankingFeatureCatalog.ItemPopularity, popularity);
                }
            }
        }

        // A catalogue item without categories is served as an empty list (not the default), as the store does.
        if (_categories.TryGetValue(itemId, out var categories))
        {
            values.SetIds(RankingFeatureCatalog.ItemCategories, categories);
        }

        if (ItemEmbeddings is { } embeddings && embeddings.TryGetValue(itemId, out var vector))
        {
            values.SetVector(RankingFeatureCatalog.ItemEmbedding, vector);
        }

        return values;
    }

    /// <summary>
    /// The request's values: the user's, and those of the user's recent and session items, all as of <paramref name="asOfMs"/>
    /// (without the session items when <paramref name="withoutSession"/>).
    /// </summary>
    public RankingRequestValues Request(string userId, long asOfMs, string? context, bool withoutSession = false)
    {
        var user = UserAsOf(userId, asOfMs, withoutSession);
        var context_ = new Dictionary<string, EntityValues>(StringComparer.Ordinal);
        foreach (var id in (user.Ids(RankingFeatureCatalog.UserRecentItems) ?? []).Concat(user.Ids(RankingFeatureCatalog.UserSessionItems) ?? []))
        {
            if (!context_.ContainsKey(id))
            {
                context_[id] = ItemAsOf(id, asOfMs);
            }
        }

        return new RankingRequestValues(user, context_, asOfMs, context);
    }

    private static void Add(Dictionary<string, List<HistoryEvent>> map, string key, HistoryEvent e)
    {
        if (!map.TryGetValue(key, out var list))
        {
            map[key] = list = [];
        }

        list.Add(e);
    }

    /// <summary>One entity's events in time order with the prefix sums of engagement.</summary>
    private sealed class EntityTimeline
    {
        public EntityTimeline(List<HistoryEvent> events)
        {
            // Stable: equal times keep log order.
            Events = [.. events.OrderBy(e => e.TimeMs)];
            Times = [.. Events.Select(e => e.TimeMs)];
            EngagementPrefix = new double[Events.Length + 1];
            for (var i = 0; i < Events.Length; i++)
            {
                EngagementPrefix[i + 1] = EngagementPrefix[i] + Math.Max(0, Events[i].Weight);
            }
        }

        public HistoryEvent[] Events { get; }

        public long[] Times { get; }

        public double[] EngagementPrefix { get; }

        /// <summary>Number of events at or before <paramref name="ms"/>.</summary>
        public int CountAtOrBefore(long ms)
        {
            int lo = 0, hi = Times.Length;
            while (lo < hi)
            {
                var mid = (lo + hi) >>> 1;
                if (Times[mid] <= ms)
                {
                    lo = mid + 1;
                }
                else
                {
                    hi = mid;
                }
            }

            return lo;
        }

        /// <summary>
        /// Engagement of the first <paramref name="n"/> events in the window's buckets ending in the bucket of <paramref name="nowMs"/>;
        /// null (the default) when the latest positive-weight event is older than the window's length (the registry's TTL).
        /// </summary>
        public double? WindowEngagement(int n, long nowMs, FeatureWindow window)
        {
            var latest = -1;
            for (var i = n - 1; i >= 0; i--)
            {
                if (Events[i].Weight > 0)
                {
                    latest = i;
                    break;
                }
            }

            if (latest < 0 || nowMs - Times[latest] > (long)window.Length.TotalMilliseconds)
            {
                return null;
            }

            var ring = window.Ring;
            var now = ring.BucketIndex(nowMs);
            double sum = 0;
            for (var i = n - 1; i >= 0; i--)
            {
                if (ring.BucketIndex(Times[i]) <= now - window.Buckets)
                {
                    break;
                }

                sum += Math.Max(0, Events[i].Weight);
            }

            return sum;
        }

        /// <summary>Sum of w * 2^((t - now) / half-life) over positive-weight events; null when there is none (the store has no score).</summary>
        public double? DecayedPopularity(int n, long nowMs)
        {
            double sum = 0;
            var any = false;
            for (var i = 0; i < n; i++)
            {
                if (Events[i].Weight > 0)
                {
                    sum += Events[i].Weight * Math.Pow(2, (Times[i] - nowMs) / HalfLifeMs);
                    any = true;
                }
            }

            return any ? sum : null;
        }

        /// <summary>Distinct items of positive-weight events among the first <paramref name="n"/>, at or after <paramref name="sinceMs"/>, by latest time (then id) descending.</summary>
        public List<string> LatestPositiveItems(int n, long sinceMs, int limit)
        {
            var seen = new Dictionary<string, long>(StringComparer.Ordinal);
            for (var i = n - 1; i >= 0 && Times[i] >= sinceMs; i--)
            {
                var e = Events[i];
                if (e.Weight > 0 && e.ItemId is { } item)
                {
                    seen.TryAdd(item, e.TimeMs);
                }
            }

            return [.. seen.OrderByDescending(p => p.Value).ThenByDescending(p => p.Key, StringComparer.Ordinal).Take(limit).Select(p => p.Key)];
        }
    }
}
