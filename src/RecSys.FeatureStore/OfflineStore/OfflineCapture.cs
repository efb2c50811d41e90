using System.Globalization;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.Streaming;
using StackExchange.Redis;

namespace RecSys.FeatureStore.OfflineStore;

/// <summary>
/// Hands the offline sink the values a committed batch left in the online store: for every entity the batch's events
/// touched, the stored counter features they affected, read back in one pipelined round trip (<c>HMGET name name@t</c>),
/// with their event time <c>name@t</c> and created time now. The stream processor calls it after a committed apply.
/// </summary>
public sealed class OfflineCapture(IConnectionMultiplexer redis, OfflineFeaturePlan plan, IOfflineFeatureSink sink, TimeProvider time)
{
    private readonly IDatabase _db = redis.GetDatabase();

    /// <summary>Reads back and appends the rows; returns how many were handed to the sink.</summary>
    public async Task<int> CaptureAsync(IReadOnlyList<LogEntry> entries)
    {
        var events = entries.Select(e => e.Record).OfType<EventRecord>().Select(r => r.Event).ToList();
        var creators = new Dictionary<string, string?>(StringComparer.Ordinal);
        if (plan.Stored.Any(f => f.EntityKind == EntityKinds.Creator))
        {
            // Creator features credit the item's stored creator, and only for events of positive engagement
            // (StoredFeature.EntityOf): read them for those events' items, not for impressions.
            var items = events
                .Where(e => !string.IsNullOrEmpty(e.ItemId) && EventTypes.EngagementWeight(e.Type, e.Value) > 0)
                .Select(e => e.ItemId!).Distinct().ToList();
            var lookup = _db.CreateBatch();
            var creatorReads = items.Select(i => lookup.HashGetAsync(OnlineKeys.Item(i), ItemFields.Creator)).ToList();
            lookup.Execute();
            await Task.WhenAll(creatorReads);
            for (var i = 0; i < items.Count; i++)
            {
                creators[items[i]] = creatorReads[i].Result;
            }
        }

        var touched = new Dictionary<(string Kind, string Id), HashSet<StoredFeature>>();
        foreach (var e in events)
        {
            var itemCreator = e.ItemId is { } itemId ? creators.GetValueOrDefault(itemId) : null;
            foreach (var feature in plan.Stored)
            {
                if (feature.AmountOf(e) != 0 && feature.EntityOf(e, itemCreator) is { } id)
                {
                    if (!touched.TryGetValue((feature.EntityKind, id), out var set))
                    {
                        touched[(feature.EntityKind, id)] = set = [];
                    }

                    set.Add(feature);
                }
            }
        }

        if (touched.Count == 0)
        {
            return 0;
        }

        var batch = _db.CreateBatch();
        var reads = new List<(string Kind, string Id, StoredFeature[] Features, Task<RedisValue[]> Values)>(touched.Count);
        foreach (var ((kind, id), set) in touched)
        {
            var features = set.ToArray();
            var fields = new RedisValue[features.Length * 2];
            for (var i = 0; i < features.Length; i++)
            {
                fields[2 * i] = features[i].Field;
                fields[(2 * i) + 1] = features[i].Field + FeatureFields.TimeSuffix;
            }

            reads.Add((kind, id, features, batch.HashGetAsync(OnlineKeys.Features(kind, id), fields)));
        }

        batch.Execute();
        await Task.WhenAll(reads.Select(r => r.Values));
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var rows = new List<FeatureRow>();
        foreach (var (kind, id, features, task) in reads)
        {
            var values = task.Result;
            for (var i = 0; i < features.Length; i++)
            {
                if (TryNumber(values[2 * i], out var value) && TryNumber(values[(2 * i) + 1], out var eventTime))
                {
                    rows.Add(new FeatureRow(kind, id, features[i].Definition.Name, value, null, (long)eventTime, now));
                }
            }
        }

        sink.Append(rows);
        return rows.Count;
    }

    private static bool TryNumber(RedisValue value, out double number)
    {
        number = 0;
        return !value.IsNullOrEmpty && double.TryParse((string?)value, NumberStyles.Float, CultureInfo.InvariantCulture, out number);
    }
}
