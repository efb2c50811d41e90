using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Options;
using RecSys.Candidates;
using RecSys.Core.Contracts;
using RecSys.FeatureStore.Serving;
using RecSys.Retrieval.Diagnostics;
using RecSys.Retrieval.Sources;
using RecSys.Retrieval.VectorIndex;

namespace RecSys.Retrieval.Services;

/// <summary>
/// Candidate generation for one request, as a pipeline: plan (budgets per source) → run the sources in parallel, each under
/// its timeout, over one shared read of the user's signals (a failure degrades, never fails, the request; the critical
/// source's failure raises the fallback sources' contributions) → fuse (weighted reciprocal-rank fusion) → filter (exclude
/// list, seen, unavailable) → backfill from <see cref="RetrievalOptions.BackfillSource"/> when the list comes up short →
/// report (per-source counts, timings and errors).
/// </summary>
public sealed class CandidateRetriever
{
    private readonly Dictionary<string, ICandidateSource> _sources;
    private readonly CandidateSignalReader _signals;
    private readonly EligibilityFilter _filter;
    private readonly IOptionsMonitor<RetrievalOptions> _options;
    private readonly TimeProvider _time;
    private readonly RetrievalTelemetry _telemetry;
    private readonly ILogger<CandidateRetriever> _logger;
    private readonly FusionPool _fusions = new();

    /// <summary>The keys of the last cached unavailable set seen (replaced along with it).</summary>
    private volatile KeyedIdSet? _unavailableKeys;

    public CandidateRetriever(
        IEnumerable<ICandidateSource> sources,
        CandidateSignalReader signals,
        EligibilityFilter filter,
        IOptionsMonitor<RetrievalOptions> options,
        TimeProvider time,
        RetrievalTelemetry telemetry,
        ILogger<CandidateRetriever> logger)
    {
        _sources = new Dictionary<string, ICandidateSource>(StringComparer.OrdinalIgnoreCase);
        foreach (var source in sources)
        {
            if (!_sources.TryAdd(source.Name, source))
            {
                throw new InvalidOperationException($"Two candidate sources are named '{source.Name}'.");
            }
        }

        _signals = signals;
        _filter = filter;
        _options = options;
        _time = time;
        _telemetry = telemetry;
        _logger = logger;

        foreach (var (name, o) in options.CurrentValue.Sources)
        {
            if (o.Enabled && !_sources.ContainsKey(name))
            {
                RetrievalLog.SourceNotRegistered(logger, name);
            }
        }

        foreach (var name in _sources.Keys)
        {
            if (!options.CurrentValue.Sources.ContainsKey(name))
            {
                RetrievalLog.SourceNotConfigured(logger, name);
            }
        }
    }

    /// <summary>Names of the registered sources.</summary>
    public IReadOnlyCollection<string> RegisteredSources => _sources.Keys;

    public async Task<CandidateResponse> RetrieveAsync(
        string userId,
        string? context,
        int count,
        IReadOnlySet<string> exclude,
        CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        using var activity = RetrievalTelemetry.ActivitySource.StartActivity("retrieve candidates");
        activity?.SetTag("recsys.user_id", userId);
        activity?.SetTag("recsys.count", count);

        var options = _options.CurrentValue;
        var (states, critical) = Plan(options, count);
        var (signals, seenRead) = ReadSignals(userId, states, cancellationToken);
        var request = new RetrievalRequestContext(userId, context, count, exclude, _time.GetUtcNow(), signals);
        try
        {
            await RunSourcesAsync(states, critical, request, options, cancellationToken);
        }
        finally
        {
            // Observed here whatever the sources did with it (a source that timed out may have left it unawaited).
            _ = signals?.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }

        var backfill = states.FirstOrDefault(s => s.IsBackfill);
        var fused = Fuse(states);
        try
        {
            // The user's seen set came whole with the signals (the collaborative search skips it): filter against it in memory.
            var seen = seenRead && signals is { IsCompletedSuccessfully: true } ? new HashSet<string>(signals.Result.Seen, StringComparer.Ordinal) : null;
            var eligibility = await EligibilityAsync(userId, fused, backfill, exclude, seen, options, cancellationToken);
            var excluded = new KeyedIdSet(exclude);
            fused.Decide(excluded, eligibility);
            if (backfill is not null)
            {
                fused = await BackfillAsync(states, backfill, fused, request, excluded, eligibility, options, cancellationToken);
            }

            return Report(userId, states, fused, count, started, activity) with { IndexCoverage = request.IndexCoverage };
        }
        finally
        {
            _fusions.Return(fused.Fusion);
        }
    }

    /// <summary>
    /// Plan: one state per planned source (the backfill source reads a reserve for short lists in the same call), and the
    /// critical source whose failure boosts the fallback sources, when it takes part.
    /// </summary>
    private (List<SourceState> States, string? Critical) Plan(RetrievalOptions options, int count)
    {
        var plan = BudgetPlanner.Plan(options, _sources.Keys, count);
        var states = new List<SourceState>(plan.Sources.Count);
        foreach (var p in plan.Sources)
        {
            var isBackfill = string.Equals(p.Name, options.BackfillSource, StringComparison.OrdinalIgnoreCase)
                && !string.IsNullOrEmpty(options.BackfillSource);
            var fetch = isBackfill ? Math.Max(p.FetchBudget, Math.Min(count, options.MaxBackfillReserve)) : p.FetchBudget;
            states.Add(new SourceState(_sources[p.Name], p, fetch, isBackfill));
        }

        return (states, plan.FallbackActive ? plan.FallbackSource : null);
    }

    /// <summary>One read of the user's signals for every source of the request that uses them (none: no read).</summary>
    private (Task<UserSignals>? Signals, bool Seen) ReadSignals(string userId, List<SourceState> states, CancellationToken cancellationToken)
    {
        UserSignalsQuery? query = null;
        foreach (var state in states)
        {
            if (state.Source.SignalsNeeded is { } needed)
            {
                query = query is null ? needed : query.Union(needed);
            }
        }

        return query is null ? (null, false) : (_signals.ReadUserSignalsAsync(userId, query, cancellationToken), query.Seen);
    }

    /// <summary>Runs every source in parallel; then decides, once, what each contributes.</summary>
    private async Task RunSourcesAsync(
        List<SourceState> states,
        string? criticalSource,
        RetrievalRequestContext request,
        RetrievalOptions options,
        CancellationToken cancellationToken)
    {
        await Task.WhenAll(states.Select(s => RunAsync(s, request, s.Fetch, cancellationToken, reread: false)));

        var failedCritical = criticalSource is null
            ? null
            : states.FirstOrDefault(s => s.Failed && string.Equals(s.Name, criticalSource, StringComparison.OrdinalIgnoreCase));
        if (failedCritical is not null)
        {
            RetrievalLog.CriticalSourceFailed(_logger, failedCritical.Name, failedCritical.Error ?? "failed",
                string.Join(", ", options.Fallback.Boost), options.Fallback.BudgetMultiplier, failedCritical.Exception);
        }

        foreach (var state in states)
        {
            state.Contribute(criticalFailed: failedCritical is not null);
        }
    }

    /// <summary>Weighted RRF of what every source that did not fail contributes, in plan order.</summary>
    private FusedCandidates Fuse(List<SourceState> states)
    {
        var inputs = new List<SourceState>(states.Count);
        var capacity = 0;
        foreach (var state in states)
        {
            if (!state.Failed)
            {
                inputs.Add(state);
                // The backfill source's reserve may be taken in too: room for it up front, no resize.
                capacity += state.IsBackfill ? state.Returned.Count : state.Contributed;
            }
        }

        var fusion = _fusions.Rent(capacity);
        foreach (var state in inputs)
        {
            fusion.Add(fusion.AddSource(state.Name, state.Plan.Weight), state.Returned, state.Contributed, state.Keys);
        }

        return new FusedCandidates(fusion, inputs);
    }

    /// <summary>
    /// Extends the backfill source's contribution over its reserve until the list is full, reading further (a few rounds at
    /// most) when the reserve runs out and the source may have more. Only counts are needed on the way (how many fused
    /// candidates are selectable); the list is ranked once, at the end. When the backfill source is the last one fused (the
    /// default: it has the smallest weight), its extension is summed into the same fusion, which gives the same totals as
    /// fusing again; otherwise everything is fused again.
    /// </summary>
    private async Task<FusedCandidates> BackfillAsync(
        List<SourceState> states,
        SourceState backfill,
        FusedCandidates fused,
        RetrievalRequestContext request,
        KeyedIdSet exclude,
        Eligibility eligibility,
        RetrievalOptions options,
        CancellationToken cancellationToken)
    {
        var count = request.Count;
        var rounds = 0;
        var selected = Math.Min(count, fused.Selectable);
        while (selected < count && !backfill.Failed)
        {
            var reserve = backfill.Returned;
            var used = backfill.Contributed;
            if (used < reserve.Count)
            {
                // Extend the backfill list over the reserve until it adds as many new eligible candidates as are missing.
                var missing = count - selected;
                var source = fused.IncrementalSource(backfill);
                var keys = backfill.Keys;
                if (source >= 0)
                {
                    var fusion = fused.Fusion;
                    while (used < reserve.Count && missing > 0)
                    {
                        var at = used++;
                        // A new entry: no source had proposed this item yet.
                        if (fusion.AddNext(source, reserve, keys) && !exclude.Contains(keys[at], reserve[at].ItemId) && eligibility.IsEligible(keys[at], reserve[at].ItemId))
                        {
                            missing--;
                        }
                    }
                }
                else
                {
                    var known = new HashSet<string>(fused.Fusion.Count, StringComparer.Ordinal);
                    for (var e = 0; e < fused.Fusion.Count; e++)
                    {
                        known.Add(fused.Fusion.ItemIdAt(e));
                    }

                    while (used < reserve.Count && missing > 0)
                    {
                        var at = used++;
                        var id = reserve[at].ItemId;
                        if (known.Add(id) && !exclude.Contains(keys[at], id) && eligibility.IsEligible(keys[at], id))
                        {
                            missing--;
                        }
                    }
                }

                RetrievalLog.Backfill(_logger, backfill.Name, used, selected, count);
                backfill.ContributeUpTo(used);
                if (source < 0)
                {
                    var previous = fused.Fusion;
                    fused = Fuse(states);
                    _fusions.Return(previous);
                }

                fused.Decide(exclude, eligibility);
                selected = Math.Min(count, fused.Selectable);
                continue;
            }

            // The reserve is used up: read further unless the source has nothing more.
            if (reserve.Count < backfill.Fetch || rounds++ >= options.MaxBackfillRounds)
            {
                break;
            }

            var fetch = reserve.Count + (2 * (count - selected));
            if (!await RunAsync(backfill, request, fetch, cancellationToken, reread: true))
            {
                break;
            }

            await eligibility.CheckAsync(backfill.Returned.Select(i => i.ItemId), cancellationToken);
        }

        return fused;
    }

    private CandidateResponse Report(string userId, List<SourceState> states, FusedCandidates fused, int count, long started, Activity? activity)
    {
        // The first `count` selectable candidates in rank order (only the selectable ones are ranked).
        var fusion = fused.Fusion;
        var ranked = fusion.RankReusing(fused.IsSelectable);
        // Columns, not a CandidateDto per candidate: the wire format writes them as they are.
        var n = Math.Min(count, ranked.Length);
        var ids = new string[n];
        var scores = new double[n];
        var sources = new IReadOnlyList<string>[n];
        for (var i = 0; i < n; i++)
        {
            ref readonly var r = ref ranked[i];
            ids[i] = r.ItemId;
            scores[i] = r.Score;
            sources[i] = fusion.SourcesOf(r.Entry);
        }

        var candidates = new CandidateColumns(ids, scores, sources, n);

        var reports = new SourceReport[states.Count];
        var degraded = new List<string>();
        for (var i = 0; i < states.Count; i++)
        {
            var s = states[i];
            reports[i] = new SourceReport(s.Name, s.Contributed, s.ElapsedMs, s.Failed, s.Error);
            if (s.Failed)
            {
                degraded.Add(s.Name);
            }
        }

        var elapsed = _time.GetElapsedTime(started);
        _telemetry.RequestCompleted(elapsed, candidates.Count, degraded.Count > 0);
        activity?.SetTag("recsys.candidates", candidates.Count);
        if (degraded.Count > 0)
        {
            activity?.SetTag("recsys.degraded", string.Join(',', degraded));
        }

        return new CandidateResponse(userId, candidates, reports, degraded, elapsed.TotalMilliseconds);
    }

    /// <summary>Runs one source under its timeout; records the outcome in its state. False when it failed.</summary>
    private async Task<bool> RunAsync(
        SourceState state,
        RetrievalRequestContext request,
        int budget,
        CancellationToken cancellationToken,
        bool reread)
    {
        var source = state.Source;
        var timeout = state.Plan.Timeout;
        using var activity = RetrievalTelemetry.ActivitySource.StartActivity("candidate source");
        activity?.SetTag("recsys.source", source.Name);
        activity?.SetTag("recsys.budget", budget);
        var started = _time.GetTimestamp();
        using var sourceCancellation = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        string reason;
        string error;
        Exception? exception;
        try
        {
            var items = await source.RetrieveAsync(request, budget, sourceCancellation.Token)
                .WaitAsync(timeout, _time, cancellationToken);
            items = Sanitize(items, budget);
            var elapsed = _time.GetElapsedTime(started);
            _telemetry.SourceCompleted(source.Name, elapsed, "ok");
            activity?.SetTag("recsys.returned", items.Count);
            if (reread)
            {
                state.Reread(items, budget, elapsed.TotalMilliseconds);
            }
            else
            {
                state.Succeeded(items, elapsed.TotalMilliseconds);
            }

            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (TimeoutException ex)
        {
            await sourceCancellation.CancelAsync();
            reason = "timeout";
            error = ex.GetType() == typeof(TimeoutException) ? $"timed out after {timeout.TotalMilliseconds:0} ms" : ex.Message;
            exception = ex.GetType() == typeof(TimeoutException) ? null : ex;
        }
        catch (Exception ex)
        {
            reason = ex is OnlineStoreUnavailableException ? "store" : "error";
            error = $"{ex.GetType().Name}: {ex.Message}";
            exception = ex;
        }

        var failedAfter = _time.GetElapsedTime(started);
        _telemetry.SourceCompleted(source.Name, failedAfter, reason);
        _telemetry.SourceFailed(source.Name, reason);
        activity?.SetStatus(ActivityStatusCode.Error, error);
        RetrievalLog.SourceFailed(_logger, source.Name, error, exception);
        if (reread)
        {
            state.RereadFailed(error, failedAfter.TotalMilliseconds);
        }
        else
        {
            state.Fail(error, exception, failedAfter.TotalMilliseconds);
        }

        return false;
    }

    /// <summary>
    /// Eligibility of the fused candidates and the backfill reserve: decided in memory when the user's seen set came with the
    /// signals and the unavailable set is cached (one read of it per request at most), else through the filter's round trip
    /// for every id not excluded (once per id).
    /// </summary>
    private async Task<Eligibility> EligibilityAsync(
        string userId,
        FusedCandidates fused,
        SourceState? backfill,
        IReadOnlySet<string> exclude,
        IReadOnlySet<string>? seen,
        RetrievalOptions options,
        CancellationToken cancellationToken)
    {
        var ids = fused.ItemIds();
        if (backfill is not null)
        {
            ids = ids.Concat(backfill.Returned.Select(i => i.ItemId));
        }

        if (seen is not null && ids.Any(id => !exclude.Contains(id)))
        {
            IReadOnlySet<string>? unavailable;
            try
            {
                unavailable = await _filter.GetCachedUnavailableAsync(cancellationToken).WaitAsync(options.FilterTimeout, _time, cancellationToken);
            }
            catch (TimeoutException ex)
            {
                throw new OnlineStoreUnavailableException("The eligibility filter could not read the online store in time.", ex);
            }

            if (unavailable is not null)
            {
                // The cached set is replaced, never changed: its keys are worked out once per replacement.
                var unavailableKeys = _unavailableKeys;
                if (!ReferenceEquals(unavailableKeys?.Ids, unavailable))
                {
                    _unavailableKeys = unavailableKeys = new KeyedIdSet(unavailable);
                }

                return new Eligibility(new KeyedIdSet(seen), unavailableKeys!);
            }
        }

        var checkedIds = new Dictionary<string, bool>(StringComparer.Ordinal);
        var eligibility = new Eligibility(checkedIds, (more, ct) => CheckEligibilityAsync(userId, more, exclude, seen, checkedIds, options, ct));
        await eligibility.CheckAsync(ids, cancellationToken);
        return eligibility;
    }

    /// <summary>
    /// Fills <paramref name="eligibility"/> for the ids not excluded and not yet known (one round trip at most; none when
    /// <paramref name="seen"/>, the user's seen set read with the signals, is given and the unavailable set is cached).
    /// </summary>
    private async Task CheckEligibilityAsync(
        string userId,
        IEnumerable<string> ids,
        IReadOnlySet<string> exclude,
        IReadOnlySet<string>? seen,
        Dictionary<string, bool> eligibility,
        RetrievalOptions options,
        CancellationToken cancellationToken)
    {
        var unknown = new List<string>();
        var pending = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in ids)
        {
            if (!exclude.Contains(id) && !eligibility.ContainsKey(id) && pending.Add(id))
            {
                unknown.Add(id);
            }
        }

        if (unknown.Count == 0)
        {
            return;
        }

        bool[] flags;
        try
        {
            flags = await _filter.CheckAsync(userId, unknown, seen, cancellationToken)
                .WaitAsync(options.FilterTimeout, _time, cancellationToken);
        }
        catch (TimeoutException ex)
        {
            throw new OnlineStoreUnavailableException("The eligibility filter could not read the online store in time.", ex);
        }

        for (var i = 0; i < flags.Length; i++)
        {
            eligibility[unknown[i]] = flags[i];
        }
    }

    /// <summary>Holds a source to its contract: at most the budget, ids present, scores finite and in [0, 1].</summary>
    private static IReadOnlyList<ScoredItem> Sanitize(IReadOnlyList<ScoredItem>? items, int budget)
    {
        if (items is null)
        {
            return [];
        }

        var clean = items.Count <= budget && (KeyedScoredItems.TryGetSpan(items, out var span) ? IsClean(span) : IsClean(items));

        if (clean)
        {
            return items;
        }

        var result = new List<ScoredItem>(Math.Min(items.Count, budget));
        foreach (var item in items)
        {
            if (result.Count == budget)
            {
                break;
            }

            if (!string.IsNullOrEmpty(item.ItemId))
            {
                result.Add(new ScoredItem(item.ItemId, double.IsNaN(item.Score) ? 0 : Math.Clamp(item.Score, 0, 1)));
            }
        }

        return result;
    }

    private static bool IsClean(ReadOnlySpan<ScoredItem> items)
    {
        foreach (ref readonly var item in items)
        {
            if (item.ItemId is not { Length: > 0 } || item.Score is not (>= 0 and <= 1))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsClean(IReadOnlyList<ScoredItem> items)
    {
        for (var i = 0; i < items.Count; i++)
        {
            var item = items[i];
            if (item.ItemId is not { Length: > 0 } || item.Score is not (>= 0 and <= 1))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Fusion accumulators kept between requests: a fusion of ~5,000 items needs arrays on the large object heap, and
    /// allocating them per request cost collections.
    /// </summary>
    private sealed class FusionPool
    {
        private readonly Stack<FusionAccumulator> _free = new();
        private readonly Lock _lock = new();
        private readonly int _max = Math.Max(4, Environment.ProcessorCount * 2);

        public FusionAccumulator Rent(int capacity)
        {
            lock (_lock)
            {
                if (_free.TryPop(out var fusion))
                {
                    fusion.Reset(capacity);
                    return fusion;
                }
            }

            return new FusionAccumulator(capacity);
        }

        public void Return(FusionAccumulator fusion)
        {
            lock (_lock)
            {
                if (_free.Count < _max)
                {
                    _free.Push(fusion);
                }
            }
        }
    }

    /// <summary>
    /// A set of item ids with the index key of each (<see cref="IndexedItems.KeyOf"/>): an id whose key is not among them is
    /// not in the set, so most lookups hash a long instead of a string; the id is compared only when its key is there. In
    /// front of the keys, one bit per key (at least 32 bits per key, Fibonacci hashing): most of a request's ~6,000 fused
    /// candidates are in none of the sets (seen, unavailable, excluded) and are answered by that bit alone.
    /// </summary>
    private sealed class KeyedIdSet
    {
        private readonly HashSet<long> _keys;
        private readonly ulong[] _bits;
        private readonly int _shift;

        public KeyedIdSet(IReadOnlySet<string> ids)
        {
            Ids = ids;
            _keys = new HashSet<long>(ids.Count);
            var bits = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(64, ids.Count * 32));
            _bits = new ulong[bits / 64];
            _shift = 64 - BitOperations.Log2((uint)bits);
            foreach (var id in ids)
            {
                var key = IndexedItems.KeyOf(id);
                _keys.Add(key);
                var bit = BitOf(key);
                _bits[bit >> 6] |= 1UL << (int)bit;
            }
        }

        public IReadOnlySet<string> Ids { get; }

        /// <summary>For an id and its key.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool Contains(long key, string itemId)
        {
            if (_keys.Count == 0)
            {
                return false;
            }

            var bit = BitOf(key);
            return (_bits[bit >> 6] & (1UL << (int)bit)) != 0 && _keys.Contains(key) && Ids.Contains(itemId);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private ulong BitOf(long key) => ((ulong)key * 0x9E3779B97F4A7C15UL) >> _shift;
    }

    /// <summary>Whether an item (not excluded) may be recommended to the request's user.</summary>
    private sealed class Eligibility
    {
        private readonly KeyedIdSet? _seen;
        private readonly KeyedIdSet? _unavailable;
        private readonly Dictionary<string, bool>? _checked;
        private readonly Func<IEnumerable<string>, CancellationToken, Task>? _check;

        /// <summary>In memory: not seen and not unavailable (what the filter would answer).</summary>
        public Eligibility(KeyedIdSet seen, KeyedIdSet unavailable)
        {
            _seen = seen;
            _unavailable = unavailable;
        }

        /// <summary>Through the filter: <paramref name="check"/> fills <paramref name="checkedIds"/> for ids not yet known.</summary>
        public Eligibility(Dictionary<string, bool> checkedIds, Func<IEnumerable<string>, CancellationToken, Task> check)
        {
            _checked = checkedIds;
            _check = check;
        }

        /// <summary>For an id (and its key) that is not excluded and was checked (every fused or backfill id is).</summary>
        public bool IsEligible(long key, string itemId) =>
            _checked is null ? !_seen!.Contains(key, itemId) && !_unavailable!.Contains(key, itemId) : _checked[itemId];

        /// <summary>Makes <see cref="IsEligible"/> answer for <paramref name="itemIds"/> (a round trip through the filter, or nothing).</summary>
        public Task CheckAsync(IEnumerable<string> itemIds, CancellationToken cancellationToken) =>
            _check is null ? Task.CompletedTask : _check(itemIds, cancellationToken);
    }

    /// <summary>
    /// The request's fusion and which of its candidates may be selected (not excluded, eligible), decided once per item.
    /// </summary>
    private sealed class FusedCandidates(FusionAccumulator fusion, List<SourceState> inputs)
    {
        private readonly IReadOnlyList<ScoredItem>[] _lists = [.. inputs.Select(s => s.Returned)];
        private bool[] _selectable = new bool[Math.Max(16, fusion.Count)];
        private int _decided;

        public FusionAccumulator Fusion { get; } = fusion;

        /// <summary>Candidates that are not excluded and eligible.</summary>
        public int Selectable { get; private set; }

        public IEnumerable<string> ItemIds()
        {
            for (var e = 0; e < Fusion.Count; e++)
            {
                yield return Fusion.ItemIdAt(e);
            }
        }

        public bool IsSelectable(int entry) => _selectable[entry];

        /// <summary>Decides the candidates fused since the last call.</summary>
        public void Decide(KeyedIdSet exclude, Eligibility eligibility)
        {
            if (_selectable.Length < Fusion.Count)
            {
                Array.Resize(ref _selectable, Math.Max(Fusion.Count, _selectable.Length * 2));
            }

            for (; _decided < Fusion.Count; _decided++)
            {
                var id = Fusion.ItemIdAt(_decided);
                var key = Fusion.KeyAt(_decided);
                var selectable = !exclude.Contains(key, id) && eligibility.IsEligible(key, id);
                _selectable[_decided] = selectable;
                Selectable += selectable ? 1 : 0;
            }
        }

        /// <summary>
        /// The fusion index of <paramref name="state"/> when its contribution can be extended in place: it is the last source
        /// fused and its fused prefix is still what it returned; else -1. A deeper read replaces the list: it is taken over
        /// when its prefix holds the same items with the same scores (the store's list did not move between the reads), so
        /// extending it sums what fusing it again would; otherwise the caller fuses again.
        /// </summary>
        public int IncrementalSource(SourceState state)
        {
            var last = inputs.Count - 1;
            if (last < 0 || !ReferenceEquals(inputs[last], state) || Fusion.Taken(last) != state.Contributed)
            {
                return -1;
            }

            if (!ReferenceEquals(_lists[last], state.Returned))
            {
                if (!SamePrefix(_lists[last], state.Returned, Fusion.Taken(last)))
                {
                    return -1;
                }

                _lists[last] = state.Returned;
            }

            return last;
        }

        private static bool SamePrefix(IReadOnlyList<ScoredItem> fused, IReadOnlyList<ScoredItem> deeper, int taken)
        {
            if (fused.Count < taken || deeper.Count < taken)
            {
                return false;
            }

            for (var i = 0; i < taken; i++)
            {
                var (a, b) = (fused[i], deeper[i]);
                if (BitConverter.DoubleToInt64Bits(a.Score) != BitConverter.DoubleToInt64Bits(b.Score)
                    || !string.Equals(a.ItemId, b.ItemId, StringComparison.Ordinal))
                {
                    return false;
                }
            }

            return true;
        }
    }
}
