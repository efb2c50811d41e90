using System.Globalization;
using RecSys.Core.Domain;
using RecSys.Core.Storage;
using RecSys.FeatureServer.EventLog;
using RecSys.FeatureServer.Telemetry;
using StackExchange.Redis;

namespace RecSys.FeatureServer.Streaming;

/// <summary>What one <see cref="OnlineApplier.ApplyAsync"/> did.</summary>
/// <param name="Committed">False when the stored position was not the expected one (the store was reset): nothing was committed.</param>
/// <param name="StoredPosition">The position now stored (the new one when committed, else what was found; the start when none).</param>
public readonly record struct ApplyResult(bool Committed, LogPosition StoredPosition, int Records, int EventsApplied, int Duplicates);

/// <summary>
/// Applies log records to the online store with the Lua scripts of <see cref="OnlineScripts"/>, pipelined per batch,
/// and then advances the stored processor position. Single writer: one applier per online store.
/// </summary>
public sealed class OnlineApplier(IConnectionMultiplexer redis, FeatureServerMetrics metrics)
{
    private readonly IDatabase _db = redis.GetDatabase();
    private byte[]? _applyEvents;
    private byte[]? _upsertItem;
    private byte[]? _rebase;
    private byte[]? _commit;
    private long? _epoch;

    /// <summary>Time-to-live of the applied-event markers.</summary>
    public TimeSpan DedupeTtl { get; init; } = TimeSpan.FromDays(30);

    /// <summary>Events applied by one script call: amortizes the fixed cost of a script run over several events.</summary>
    public int EventsPerScript { get; init; } = 32;

    /// <summary>The popularity epoch in use (unix ms), null before the first engagement.</summary>
    public long? Epoch => _epoch;

    /// <summary>Loads the scripts and reads the stored epoch and position; call again after the store was reset.</summary>
    public async Task<LogPosition> InitializeAsync()
    {
        foreach (var endpoint in redis.GetEndPoints())
        {
            var server = redis.GetServer(endpoint);
            if (server.IsReplica)
            {
                continue;
            }

            _applyEvents = await server.ScriptLoadAsync(OnlineScripts.ApplyEvents);
            _upsertItem = await server.ScriptLoadAsync(OnlineScripts.UpsertItem);
            _rebase = await server.ScriptLoadAsync(OnlineScripts.Rebase);
            _commit = await server.ScriptLoadAsync(OnlineScripts.Commit);
        }

        var epoch = await _db.StringGetAsync(OnlineKeys.TrendingEpoch);
        _epoch = epoch.IsNull ? null : (long)epoch;
        return await ReadPositionAsync();
    }

    /// <summary>
    /// Waits until the processor's counters and position have not moved for <paramref name="quiet"/>: the scripts a dead
    /// predecessor had already sent still run after its connection is gone, and must land before a new applier writes
    /// (the scripts compute their keys inside, so two appliers at once could interleave read-modify-writes of one hash).
    /// </summary>
    public async Task WaitForQuietAsync(TimeSpan quiet, TimeProvider time, CancellationToken cancellationToken)
    {
        var last = await ProgressAsync();
        var since = time.GetTimestamp();
        while (time.GetElapsedTime(since) < quiet)
        {
            await Task.Delay(quiet / 5, time, cancellationToken);
            var now = await ProgressAsync();
            if (now != last)
            {
                last = now;
                since = time.GetTimestamp();
            }
        }
    }

    private async Task<string> ProgressAsync()
    {
        var stats = await _db.HashGetAllAsync(ProcessorKeys.Stats);
        var position = await _db.StringGetAsync(OnlineKeys.ProcessorPosition);
        return string.Join(",", stats.OrderBy(e => e.Name.ToString(), StringComparer.Ordinal).Select(e => $"{e.Name}={e.Value}")) + "|" + position;
    }

    /// <summary>The stored processor position (<see cref="LogPosition.Parse"/> of its stored form), the start when the store has none.</summary>
    public async Task<LogPosition> ReadPositionAsync()
    {
        var value = await _db.StringGetAsync(OnlineKeys.ProcessorPosition);
        return LogPosition.Parse(value);
    }

    /// <summary>
    /// Applies the entries in order, pipelined, then moves the stored position from <paramref name="expectedPosition"/>
    /// to <paramref name="nextPosition"/>. Safe to repeat: events are deduplicated by id, item upserts are idempotent.
    /// </summary>
    public async Task<ApplyResult> ApplyAsync(IReadOnlyList<LogEntry> entries, LogPosition expectedPosition, LogPosition nextPosition)
    {
        if (_applyEvents is null || _upsertItem is null || _rebase is null || _commit is null)
        {
            throw new InvalidOperationException("InitializeAsync must be called first.");
        }

        // A store that lost its position (flushed, replaced) must be rebuilt from the start, not patched with this batch.
        // The commit re-checks, for a loss during the batch.
        var beforeText = await _db.StringGetAsync(OnlineKeys.ProcessorPosition);
        var before = LogPosition.Parse(beforeText);
        if (!before.Equals(expectedPosition))
        {
            return new ApplyResult(false, before, 0, 0, 0);
        }

        var (events, applied) = await ApplyEffectsAsync(entries);
        var duplicates = events - applied;
        var stored = await _db.ScriptEvaluateAsync(
            _commit!,
            [OnlineKeys.ProcessorPosition, ProcessorKeys.Stats],
            [beforeText.IsNull ? RedisValue.EmptyString : beforeText, nextPosition.ToString(), entries.Count]);
        var reply = (RedisResult[])stored!;
        var committed = (long)reply[0] == 1;
        var storedText = (string?)reply[1];
        metrics.RecordsApplied(entries.Count, applied, duplicates);
        return new ApplyResult(
            committed,
            LogPosition.Parse(storedText),
            entries.Count,
            applied,
            duplicates);
    }

    /// <summary>Applies the entries' effects in order without moving the position (what a crash before the commit leaves).</summary>
    internal async Task<(int Events, int Applied)> ApplyEffectsAsync(IReadOnlyList<LogEntry> entries)
    {
        if (_applyEvents is null || _upsertItem is null)
        {
            throw new InvalidOperationException("InitializeAsync must be called first.");
        }

        var ttl = ((long)DedupeTtl.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        var pending = new List<Task<RedisResult>>();
        var eventChunks = new List<Task<RedisResult>>();
        var chunk = new List<RedisValue>(1 + (EventsPerScript * OnlineScripts.EventArgCount)) { ttl };
        void FlushEvents()
        {
            if (chunk.Count > 1)
            {
                var task = _db.ScriptEvaluateAsync(_applyEvents, null, [.. chunk]);
                eventChunks.Add(task);
                pending.Add(task);
                chunk.RemoveRange(1, chunk.Count - 1);
            }
        }

        foreach (var entry in entries)
        {
            switch (entry.Record)
            {
                case ItemUpsertRecord { Item: var item }:
                    FlushEvents();
                    pending.Add(_db.ScriptEvaluateAsync(_upsertItem, ItemKeys(item), ItemArgs(item)));
                    break;
                case EventRecord { Event: var e }:
                    var weight = EventTypes.EngagementWeight(e.Type, e.Value);
                    var decayed = 0d;
                    if (e.ItemId is not null && weight > 0)
                    {
                        var t = e.EventTime.ToUnixTimeMilliseconds();
                        if (_epoch is null)
                        {
                            await _db.StringSetAsync(OnlineKeys.TrendingEpoch, t, when: When.NotExists);
                            _epoch = (long)await _db.StringGetAsync(OnlineKeys.TrendingEpoch);
                        }

                        if (DecayedScore.Exponent(t, _epoch.Value) > DecayedScore.RebaseExponent)
                        {
                            // Everything sent so far must land before the scores are scaled.
                            FlushEvents();
                            await Task.WhenAll(pending);
                            await RebaseAsync(t);
                        }

                        decayed = DecayedScore.Weight(weight, t, _epoch.Value);
                    }

                    AddEventArgs(chunk, e, weight, decayed);
                    if (chunk.Count >= 1 + (EventsPerScript * OnlineScripts.EventArgCount))
                    {
                        FlushEvents();
                    }

                    break;
            }
        }

        FlushEvents();
        await Task.WhenAll(pending);
        var events = 0;
        var applied = 0;
        foreach (var task in eventChunks)
        {
            foreach (var result in (RedisResult[])task.Result!)
            {
                events++;
                applied += (int)result;
            }
        }

        return (events, applied);
    }

    /// <summary>Moves the epoch to <paramref name="newEpochMs"/>, scaling every decayed score accordingly.</summary>
    public async Task RebaseAsync(long newEpochMs)
    {
        if (_rebase is null || _epoch is not { } old)
        {
            throw new InvalidOperationException("InitializeAsync must be called and an epoch set first.");
        }

        var factor = Math.Pow(2, -DecayedScore.Exponent(newEpochMs, old));
        var moved = await _db.ScriptEvaluateAsync(
            _rebase,
            [OnlineKeys.Trending, OnlineKeys.TrendingEpoch, OnlineKeys.AllCategories],
            [old, newEpochMs, factor.ToString("R", CultureInfo.InvariantCulture)]);
        var current = await _db.StringGetAsync(OnlineKeys.TrendingEpoch);
        _epoch = (long)current;
        metrics.Rebased((long)moved == 1);
    }

    private static void AddEventArgs(List<RedisValue> args, InteractionEvent e, double weight, double decayed)
    {
        args.Add(e.EventId);
        args.Add(e.UserId);
        args.Add(e.ItemId ?? string.Empty);
        args.Add(e.CreatorId ?? string.Empty);
        args.Add(e.Type.WireName());
        args.Add(e.EventTime.ToUnixTimeMilliseconds());
        args.Add(weight.ToString("R", CultureInfo.InvariantCulture));
        args.Add(decayed.ToString("R", CultureInfo.InvariantCulture));
        args.Add(EventTypes.MarksSeen(e.Type) ? "1" : "0");
    }

    private static RedisKey[] ItemKeys(CatalogItem item) =>
        [OnlineKeys.Item(item.Id), OnlineKeys.AllItems, OnlineKeys.AllCategories, OnlineKeys.UnavailableItems];

    private static RedisValue[] ItemArgs(CatalogItem item) =>
    [
        item.Id,
        string.Join(ItemFields.ListSeparator, item.Categories),
        string.Join(ItemFields.ListSeparator, item.Tags),
        item.CreatedAt.ToUnixTimeMilliseconds(),
        item.Available ? "1" : "0",
        item.CreatorId ?? string.Empty,
        item.Title ?? string.Empty,
        item.Title is null ? "0" : "1",
    ];
}
