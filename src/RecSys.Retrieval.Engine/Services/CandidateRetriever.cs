using System.Diagnostics;
using Microsoft.Extensions.Options;
using RecSys.Candidates;
using RecSys.Core.Contracts;
using RecSys.FeatureStore.Serving;
using RecSys.Retrieval.Diagnostics;
using RecSys.Retrieval.Sources;

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

        var fused = Fuse(states);
        var eligibility = new Dictionary<string, bool>(StringComparer.Ordinal);
        var backfill = states.FirstOrDefault(s => s.IsBackfill);

        // One filter round trip for the fused candidates and the backfill reserve.
        var toCheck = fused.Select(c => c.ItemId);
        if (backfill is not null)
        {
            toCheck = toCheck.Concat(backfill.Returned.Select(i => i.ItemId));
        }

        // The user's seen set came whole with the signals (the collaborative search skips it): filter against it in memory.
        var seen = seenRead && signals is { IsCompletedSuccessfully: true } ? new HashSet<string>(signals.Result.Seen, StringComparer.Ordinal) : null;
        await CheckEligibilityAsync(userId, toCheck, exclude, seen, eligibility, options, cancellationToken);
        var selected = Select(fused, exclude, count, eligibility);
        if (backfill is not null)
        {
            selected = await BackfillAsync(states, backfill, selected, fused, request, seen, eligibility, options, cancellationToken);
        }

        return Report(userId, states, selected, started, activity) with { IndexCoverage = request.IndexCoverage };
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

    private static List<FusedCandidate> Fuse(List<SourceState> states) =>
        CandidateFusion.Merge([.. states.Where(s => !s.Failed).Select(s => s.ToFusionInput())]);

    /// <summary>
    /// Extends the backfill source's contribution over its reserve until the list is full, reading further (a few rounds at
    /// most) when the reserve runs out and the source may have more.
    /// </summary>
    private async Task<List<FusedCandidate>> BackfillAsync(
        List<SourceState> states,
        SourceState backfill,
        List<FusedCandidate> selected,
        List<FusedCandidate> fused,
        RetrievalRequestContext request,
        IReadOnlySet<string>? seen,
        Dictionary<string, bool> eligibility,
        RetrievalOptions options,
        CancellationToken cancellationToken)
    {
        var count = request.Count;
        var exclude = request.Exclude;
        var rounds = 0;
        while (selected.Count < count && !backfill.Failed)
        {
            var reserve = backfill.Returned;
            var used = backfill.Contributed;
            if (used < reserve.Count)
            {
                // Extend the backfill list over the reserve until it adds as many new eligible candidates as are missing.
                var known = new HashSet<string>(fused.Count, StringComparer.Ordinal);
                foreach (var candidate in fused)
                {
                    known.Add(candidate.ItemId);
                }

                var missing = count - selected.Count;
                while (used < reserve.Count && missing > 0)
                {
                    var id = reserve[used++].ItemId;
                    if (known.Add(id) && !exclude.Contains(id) && eligibility[id])
                    {
                        missing--;
                    }
                }

                RetrievalLog.Backfill(_logger, backfill.Name, used, selected.Count, count);
                backfill.ContributeUpTo(used);
                fused = Fuse(states);
                selected = Select(fused, exclude, count, eligibility);
                continue;
            }

            // The reserve is used up: read further unless the source has nothing more.
            if (reserve.Count < backfill.Fetch || rounds++ >= options.MaxBackfillRounds)
            {
                break;
            }

            var fetch = reserve.Count + (2 * (count - selected.Count));
            if (!await RunAsync(backfill, request, fetch, cancellationToken, reread: true))
            {
                break;
            }

            await CheckEligibilityAsync(request.UserId, backfill.Returned.Select(i => i.ItemId), exclude, seen, eligibility, options, cancellationToken);
        }

        return selected;
    }

    private CandidateResponse Report(string userId, List<SourceState> states, List<FusedCandidate> selected, long started, Activity? activity)
    {
        var candidates = new CandidateDto[selected.Count];
        for (var i = 0; i < candidates.Length; i++)
        {
            candidates[i] = new CandidateDto(selected[i].ItemId, selected[i].Score, selected[i].Sources);
        }

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
        _telemetry.RequestCompleted(elapsed, candidates.Length, degraded.Count > 0);
        activity?.SetTag("recsys.candidates", candidates.Length);
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

    /// <summary>The first <paramref name="count"/> fused candidates that are neither excluded nor ineligible.</summary>
    private static List<FusedCandidate> Select(
        List<FusedCandidate> fused,
        IReadOnlySet<string> exclude,
        int count,
        Dictionary<string, bool> eligibility)
    {
        var selected = new List<FusedCandidate>(Math.Min(count, fused.Count));
        foreach (var candidate in fused)
        {
            if (selected.Count == count)
            {
                break;
            }

            if (!exclude.Contains(candidate.ItemId) && eligibility[candidate.ItemId])
            {
                selected.Add(candidate);
            }
        }

        return selected;
    }

    /// <summary>Holds a source to its contract: at most the budget, ids present, scores finite and in [0, 1].</summary>
    private static IReadOnlyList<ScoredItem> Sanitize(IReadOnlyList<ScoredItem>? items, int budget)
    {
        if (items is null)
        {
            return [];
        }

        var clean = items.Count <= budget;
        for (var i = 0; clean && i < items.Count; i++)
        {
            var item = items[i];
            clean = !string.IsNullOrEmpty(item.ItemId) && item.Score is >= 0 and <= 1;
        }

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
}
