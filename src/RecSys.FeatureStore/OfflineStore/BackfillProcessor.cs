using RecSys.FeatureStore.EventLog;

namespace RecSys.FeatureStore.OfflineStore;

/// <summary>Progress of a backfill.</summary>
public sealed record BackfillProgress(long Position, long Tail, long EventsRead, long Duplicates, long RowsWritten);

/// <summary>
/// The batch processor: recomputes the stored features (<see cref="OfflineFeaturePlan.Stored"/>) from the whole event log
/// with the same counter rules as the stream processor, each event id counted once, and writes one row per entity,
/// feature and distinct event time: the value after every event up to that time, as of that time.
/// The created time of a row is the log's watermark when its newest input was ingested (the latest event time seen in
/// the log up to that record), so an event that arrived late makes the values it changed known only from its arrival.
/// That created time is taken over all the events of the row's entity up to the row's event time, not over the
/// feature's own events only: every feature of an entity then becomes visible at a label's time for the same events
/// (an item's events and engagement count the same set), whatever subset of them each feature counts.
/// </summary>
public sealed class BackfillProcessor(IEventLog log, IOfflineFeatureStore store, OfflineFeaturePlan plan)
{
    /// <summary>Records read per log call.</summary>
    public int ReadBatchSize { get; init; } = 4_096;

    /// <summary>Rows handed to the store per write (one file per event date each).</summary>
    public int WriteBatchSize { get; init; } = 1_000_000;

    /// <summary>
    /// Reads the log from its start until every partition reaches the end position taken at the start, with a reader of
    /// its own (so it neither waits for nor disturbs the stream processor's reads), and writes the recomputed rows.
    /// </summary>
    public async Task<BackfillProgress> RunAsync(Action<BackfillProgress>? progress, CancellationToken cancellationToken)
    {
        var end = await log.GetEndPositionAsync(cancellationToken);
        var tail = end.Ordinal;
        var position = LogPosition.Start;
        var creators = new Dictionary<string, string?>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var series = new Dictionary<(int Feature, string Entity), List<Contribution>>();
        var arrivals = new Dictionary<(string Kind, string Entity), List<Contribution>>();
        var touched = new List<(string Kind, string Entity)>(4);
        var stored = plan.Stored;
        long events = 0, duplicates = 0, watermark = long.MinValue;
        using (var reader = log.OpenReader())
        {
            // Compared per partition: the sum of the offsets can pass the end's while one partition is still behind.
            while (!position.IsAtOrPast(end))
            {
                var batch = await reader.ReadAsync(position, ReadBatchSize, cancellationToken);
                foreach (var entry in batch.Entries)
                {
                    if (entry.Record is ItemUpsertRecord { Item: var item })
                    {
                        // Creator features credit the item's creator as stored when the event is applied (log order).
                        creators[item.Id] = item.CreatorId;
                        continue;
                    }

                    if (entry.Record is not EventRecord { Event: var e })
                    {
                        continue;
                    }

                    if (!seen.Add(e.EventId))
                    {
                        duplicates++;
                        continue;
                    }

                    events++;
                    var t = e.EventTime.ToUnixTimeMilliseconds();
                    watermark = Math.Max(watermark, t);
                    var itemCreator = e.ItemId is { } itemId ? creators.GetValueOrDefault(itemId) : null;
                    touched.Clear();
                    for (var f = 0; f < stored.Count; f++)
                    {
                        var amount = stored[f].AmountOf(e);
                        if (amount == 0 || stored[f].EntityOf(e, itemCreator) is not { } id)
                        {
                            continue;
                        }

                        if (!series.TryGetValue((f, id), out var list))
                        {
                            series[(f, id)] = list = [];
                        }

                        list.Add(new Contribution(t, amount, watermark));
                        if (!touched.Contains((stored[f].EntityKind, id)))
                        {
                            touched.Add((stored[f].EntityKind, id));
                        }
                    }

                    foreach (var key in touched)
                    {
                        if (!arrivals.TryGetValue(key, out var list))
                        {
                            arrivals[key] = list = [];
                        }

                        list.Add(new Contribution(t, 0, watermark));
                    }
                }

                position = batch.NextPosition;
                progress?.Invoke(new BackfillProgress(position.Ordinal, tail, events, duplicates, 0));
            }
        }

        var known = new Dictionary<(string Kind, string Entity), KnownTimes>(arrivals.Count);
        foreach (var (key, list) in arrivals)
        {
            known[key] = KnownTimes.Of(list);
        }

        arrivals.Clear();
        var rows = new List<FeatureRow>(Math.Min(WriteBatchSize, 1 << 20));
        long written = 0;
        foreach (var ((f, entity), contributions) in series)
        {
            var feature = stored[f];
            AddRows(feature, entity, contributions, known[(feature.EntityKind, entity)], rows);
            if (rows.Count >= WriteBatchSize)
            {
                await store.WriteAsync(rows, cancellationToken);
                written += rows.Count;
                rows.Clear();
                progress?.Invoke(new BackfillProgress(position.Ordinal, tail, events, duplicates, written));
            }
        }

        await store.WriteAsync(rows, cancellationToken);
        written += rows.Count;
        var done = new BackfillProgress(position.Ordinal, tail, events, duplicates, written);
        progress?.Invoke(done);
        return done;
    }

    /// <summary>
    /// Cumulates the contributions in event-time order; one row per distinct event time, created when every event of the
    /// entity up to that time had arrived (<paramref name="entityKnown"/>).
    /// </summary>
    internal static void AddRows(StoredFeature feature, string entity, List<Contribution> contributions, KnownTimes entityKnown, List<FeatureRow> rows)
    {
        contributions.Sort(static (a, b) => a.EventTimeMs.CompareTo(b.EventTimeMs));
        var sum = 0d;
        for (var i = 0; i < contributions.Count; i++)
        {
            var c = contributions[i];
            sum += c.Amount;
            if (i + 1 < contributions.Count && contributions[i + 1].EventTimeMs == c.EventTimeMs)
            {
                continue;
            }

            var value = feature.IsLatestTime ? c.EventTimeMs : sum;
            rows.Add(new FeatureRow(feature.EntityKind, entity, feature.Name, value, null, c.EventTimeMs, entityKnown.At(c.EventTimeMs)));
        }
    }

    internal readonly record struct Contribution(long EventTimeMs, double Amount, long KnownAtMs);

    /// <summary>For one entity: by event time, when every one of its events up to that time had arrived.</summary>
    internal sealed class KnownTimes
    {
        private readonly long[] _eventTimes;
        private readonly long[] _known;

        private KnownTimes(long[] eventTimes, long[] known)
        {
            _eventTimes = eventTimes;
            _known = known;
        }

        /// <summary>From the entity's events (event time and arrival watermark each).</summary>
        public static KnownTimes Of(List<Contribution> arrivals)
        {
            arrivals.Sort(static (a, b) => a.EventTimeMs.CompareTo(b.EventTimeMs));
            var times = new List<long>(arrivals.Count);
            var known = new List<long>(arrivals.Count);
            var max = long.MinValue;
            for (var i = 0; i < arrivals.Count; i++)
            {
                max = Math.Max(max, arrivals[i].KnownAtMs);
                if (i + 1 < arrivals.Count && arrivals[i + 1].EventTimeMs == arrivals[i].EventTimeMs)
                {
                    continue;
                }

                times.Add(arrivals[i].EventTimeMs);
                known.Add(max);
            }

            return new KnownTimes([.. times], [.. known]);
        }

        /// <summary>When all the entity's events at or before <paramref name="eventTimeMs"/> (one of its event times) had arrived.</summary>
        public long At(long eventTimeMs)
        {
            var i = Array.BinarySearch(_eventTimes, eventTimeMs);
            return _known[i >= 0 ? i : ~i - 1];
        }
    }
}
