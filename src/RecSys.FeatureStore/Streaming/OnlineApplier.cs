using System.Globalization;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Keys;
using RecSys.FeatureStore.EventLog;
using RecSys.FeatureStore.Telemetry;
using StackExchange.Redis;

namespace RecSys.FeatureStore.Streaming;

/// <summary>What one <see cref="OnlineApplier.ApplyAsync"/> did.</summary>
/// <param name="Committed">False when the stored position was not the expected one (the store was reset): nothing was committed.</param>
/// <param name="StoredPosition">The position now stored (the new one when committed, else what was found; the start when none).</param>
public readonly record struct ApplyResult(bool Committed, LogPosition StoredPosition, int Records, int EventsApplied, int Duplicates);

/// <summary>
/// Applies log records to the online store with the Lua scripts of <see cref="OnlineScripts"/>, pipelined per batch,
/// and then advances the stored processor position. Single writer, enforced by the store: <see cref="InitializeAsync"/>
/// takes a fencing token and every script refuses to write under an older one.
/// </summary>
public sealed class OnlineApplier(IConnectionMultiplexer redis, FeatureStoreTelemetry metrics)
{
    private static readonly RedisKey[] FenceKey = [ProcessorKeys.Fence];
    private readonly IDatabase _db = redis.GetDatabase();
    private byte[]? _applyEvents;
    private byte[]? _upsertItem;
    private byte[]? _rebase;
    private byte[]? _commit;
    private byte[]? _setEma;
    private EmaEmbeddingUpdater? _ema;
    private long? _epoch;
    private string? _token;
    private string? _leaseOwner;
    private TimeSpan _leaseTtl;

    /// <summary>Time-to-live of the applied-event markers.</summary>
    public TimeSpan DedupeTtl { get; init; } = TimeSpan.FromDays(30);

    /// <summary>Learning rate of the moved user embedding (<see cref="Registry.EmaEmbeddingTransform"/>).</summary>
    public double EmbeddingAlpha { get; init; } = Registry.EmaEmbeddingTransform.DefaultAlpha;

    /// <summary>Events applied by one script call: amortizes the fixed cost of a script run over several events.</summary>
    public int EventsPerScript { get; init; } = 32;

    /// <summary>The popularity epoch in use (unix ms), null before the first engagement.</summary>
    public long? Epoch => _epoch;

    /// <summary>The fencing token this applier writes with (<see cref="ProcessorKeys.Fence"/>), null before <see cref="InitializeAsync"/>.</summary>
    public string? Token => _token;

    /// <summary>
    /// Loads the scripts, takes a new fencing token (from then on every script of an earlier writer is refused) and reads
    /// the stored epoch and position; call again after the store was reset or this applier was fenced.
    /// </summary>
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
            _setEma = await server.ScriptLoadAsync(OnlineScripts.SetEmaEmbedding);
        }

        // A script on the declared fence key, so that it waits for any running script of the previous writer (see OnlineScripts).
        _token = ((long)await _db.ScriptEvaluateAsync(OnlineScripts.TakeFence, [ProcessorKeys.Fence])).ToString(CultureInfo.InvariantCulture);
        var epoch = await _db.StringGetAsync(OnlineKeys.TrendingEpoch);
        _epoch = epoch.IsNull ? null : (long)epoch;
        return await ReadPositionAsync();
    }

    /// <summary>
    /// Takes the processor lease for <paramref name="owner"/> for <paramref name="ttl"/> when nobody else holds it
    /// (<see cref="RenewLeaseAsync"/> extends it). Returns false and who holds it otherwise.
    /// </summary>
    public async Task<(bool Acquired, string? Holder, TimeSpan Remaining)> TryAcquireLeaseAsync(string owner, TimeSpan ttl)
    {
        ArgumentException.ThrowIfNullOrEmpty(owner);
        var reply = (RedisResult[])(await _db.ScriptEvaluateAsync(
            OnlineScripts.AcquireLease, [ProcessorKeys.Lease], [owner, (long)ttl.TotalMilliseconds]))!;
        if ((long)reply[0] == 1)
        {
            _leaseOwner = owner;
            _leaseTtl = ttl;
            return (true, owner, ttl);
        }

        return (false, (string?)reply[2], TimeSpan.FromMilliseconds(Math.Max(0, (long)reply[1])));
    }

    /// <summary>Extends the lease while this applier's token is current; false when the lease or the token is someone else's.</summary>
    public async Task<bool> RenewLeaseAsync()
    {
        if (_leaseOwner is not { } owner || _token is null)
        {
            return false;
        }

        var renewed = await _db.ScriptEvaluateAsync(
            OnlineScripts.RenewLease, [ProcessorKeys.Lease, ProcessorKeys.Fence], [owner, (long)_leaseTtl.TotalMilliseconds, _token]);
        return (long)renewed == 1;
    }

    /// <summary>Gives the lease up (a graceful stop), so that a standby takes over without waiting for it to expire.</summary>
    public async Task ReleaseLeaseAsync()
    {
        if (_leaseOwner is { } owner)
        {
            _leaseOwner = null;
            await _db.ScriptEvaluateAsync(OnlineScripts.ReleaseLease, [ProcessorKeys.Lease], [owner]);
        }
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
            [OnlineKeys.ProcessorPosition, ProcessorKeys.Stats, ProcessorKeys.Fence],
            [beforeText.IsNull ? RedisValue.EmptyString : beforeText, nextPosition.ToString(), entries.Count, _token]);
        var reply = (RedisResult[])stored!;
        ThrowIfFenced((long)reply[0]);
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
        if (_applyEvents is null || _upsertItem is null || _setEma is null || _token is null)
        {
            throw new InvalidOperationException("InitializeAsync must be called first.");
        }

        // First, so that the events' other effects never land without it: it is idempotent by its version, they by marker.
        _ema ??= new EmaEmbeddingUpdater(_db, EmbeddingAlpha);
        await _ema.UpdateAsync(entries, _setEma, _token, ThrowIfFenced);

        var ttl = ((long)DedupeTtl.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        var pending = new List<Task<RedisResult>>();
        var eventChunks = new List<Task<RedisResult>>();
        const int head = 2;
        var chunk = new List<RedisValue>(head + (EventsPerScript * OnlineScripts.EventArgCount)) { _token, ttl };
        void FlushEvents()
        {
            if (chunk.Count > head)
            {
                var task = _db.ScriptEvaluateAsync(_applyEvents, FenceKey, [.. chunk]);
                eventChunks.Add(task);
                pending.Add(task);
                chunk.RemoveRange(head, chunk.Count - head);
            }
        }

        foreach (var entry in entries)
        {
            switch (entry.Record)
            {
                case ItemUpsertRecord { Item: var item }:
                    FlushEvents();
                    pending.Add(_db.ScriptEvaluateAsync(_upsertItem, ItemKeys(item), [.. ItemArgs(item), _token]));
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
                    if (chunk.Count >= head + (EventsPerScript * OnlineScripts.EventArgCount))
                    {
                        FlushEvents();
                    }

                    break;
            }
        }

        FlushEvents();
        await Task.WhenAll(pending);
        foreach (var task in pending)
        {
            if (task.Result.Resp2Type == ResultType.Integer)
            {
                ThrowIfFenced((long)task.Result);
            }
        }

        var events = 0;
        var applied = 0;
        foreach (var task in eventChunks)
        {
            foreach (var result in (RedisResult[])task.Result!)
            {
                // A deleted user's event is neither applied nor a duplicate (the script counts it apart).
                var reply = (int)result;
                if (reply != OnlineScripts.DeletedUser)
                {
                    events++;
                    applied += reply;
                }
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
            [OnlineKeys.Trending, OnlineKeys.TrendingEpoch, OnlineKeys.AllCategories, ProcessorKeys.Fence],
            [old, newEpochMs, factor.ToString("R", CultureInfo.InvariantCulture), _token]);
        ThrowIfFenced((long)moved);
        var current = await _db.StringGetAsync(OnlineKeys.TrendingEpoch);
        _epoch = (long)current;
        metrics.Rebased((long)moved == 1);
    }

    private void ThrowIfFenced(long reply)
    {
        if (reply == OnlineScripts.Fenced)
        {
            throw new ProcessorFencedException($"The online store refused writes with fencing token {_token}: a newer writer has started.");
        }
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
        [OnlineKeys.Item(item.Id), OnlineKeys.AllItems, OnlineKeys.AllCategories, OnlineKeys.UnavailableItems, ProcessorKeys.Fence];

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

/// <summary>The online store refused a write because a newer writer took the fencing token: this applier must stop writing.</summary>
public sealed class ProcessorFencedException(string message) : Exception(message);
