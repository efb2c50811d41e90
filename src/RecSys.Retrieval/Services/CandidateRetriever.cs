using System.Diagnostics;
using Microsoft.Extensions.Options;
using RecSys.Core.Contracts;
using RecSys.Retrieval.Diagnostics;
using RecSys.Retrieval.Fusion;
using RecSys.Retrieval.Sources;
using StackExchange.Redis;

namespace RecSys.Retrieval.Services;

/// <summary>
/// retrieve_candidates: runs every enabled source in parallel (each under its timeout; a failure degrades, never fails, the
/// request), applies handle_retrieval_failure, fuses with merge_candidates, filters (exclude list, seen, unavailable) and
/// backfills from <see cref="RetrievalOptions.BackfillSource"/> when the list comes up short.
/// </summary>
public sealed class CandidateRetriever
{
    private readonly Dictionary<string, ICandidateSource> _sources;
    private readonly EligibilityFilter _filter;
    private readonly IOptionsMonitor<RetrievalOptions> _options;
    private readonly TimeProvider _time;
    private readonly RetrievalTelemetry _telemetry;
    private readonly ILogger<CandidateRetriever> _logger;

    public CandidateRetriever(
        IEnumerable<ICandidateSource> sources,
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
        var plan = BudgetPlanner.Plan(options, _sources.Keys, count);
        var request = new RetrievalRequestContext(userId, context, count, exclude, _time.GetUtcNow());

        // The backfill source reads a reserve for short lists (a cold-start user has nothing but trending) in the same call.
        var backfillIndex = FindBackfill(plan, options);
        var runs = new Task<SourceRun>[plan.Sources.Count];
        for (var i = 0; i < runs.Length; i++)
        {
            var p = plan.Sources[i];
            var fetch = i == backfillIndex ? Math.Max(p.FetchBudget, Math.Min(count, options.MaxBackfillReserve)) : p.FetchBudget;
            runs[i] = RunAsync(_sources[p.Name], request, fetch, p.Timeout, cancellationToken);
        }

        var outcomes = await Task.WhenAll(runs);

        var criticalFailed = plan.FallbackActive && outcomes.Any(o => o.Failed
            && string.Equals(o.Source, plan.FallbackSource, StringComparison.OrdinalIgnoreCase));
        if (criticalFailed)
        {
            var critical = outcomes.First(o => string.Equals(o.Source, plan.FallbackSource, StringComparison.OrdinalIgnoreCase));
            RetrievalLog.CriticalSourceFailed(_logger, critical.Source, critical.Error ?? "failed",
                string.Join(", ", options.Fallback.Boost), options.Fallback.BudgetMultiplier, critical.Exception);
        }

        // A source contributes its budget; the fallback sources fetched their boosted budget in reserve and keep it only when
        // the critical source failed (when it is absent the boost is already in their budget).
        var lists = new IReadOnlyList<ScoredItem>[outcomes.Length];
        for (var i = 0; i < outcomes.Length; i++)
        {
            var p = plan.Sources[i];
            var keep = p.BoostedOnFallback && !criticalFailed ? p.Budget : p.FetchBudget;
            lists[i] = Prefix(outcomes[i].Items, keep);
        }

        var fused = CandidateFusion.Merge(ToResults(plan, outcomes, lists));

        // One filter round trip for the fused candidates and the backfill reserve.
        var eligibility = new Dictionary<string, bool>(StringComparer.Ordinal);
        var toCheck = fused.Select(c => c.ItemId);
        if (backfillIndex >= 0)
        {
            toCheck = toCheck.Concat(outcomes[backfillIndex].Items.Select(i => i.ItemId));
        }

        await CheckEligibilityAsync(userId, toCheck, exclude, eligibility, options, cancellationToken);
        var selected = Select(fused, exclude, count, eligibility);

        var backfillElapsed = 0.0;
        string? backfillError = null;
        var fetches = 0;
        while (selected.Count < count && backfillIndex >= 0 && !outcomes[backfillIndex].Failed)
        {
            var p = plan.Sources[backfillIndex];
            var reserve = outcomes[backfillIndex].Items;
            var used = lists[backfillIndex].Count;
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

                RetrievalLog.Backfill(_logger, p.Name, used, selected.Count, count);
                lists[backfillIndex] = Prefix(reserve, used);
                fused = CandidateFusion.Merge(ToResults(plan, outcomes, lists));
                selected = Select(fused, exclude, count, eligibility);
                continue;
            }

            // The reserve is used up: read further unless the source has nothing more.
            if (reserve.Count < outcomes[backfillIndex].Budget || fetches++ >= options.MaxBackfillRounds)
            {
                break;
            }

            var budget = reserve.Count + (2 * (count - selected.Count));
            var more = await RunAsync(_sources[p.Name], request, budget, p.Timeout, cancellationToken);
            backfillElapsed += more.ElapsedMs;
            if (more.Failed)
            {
                backfillError = "backfill: " + more.Error;
                break;
            }

            outcomes[backfillIndex] = outcomes[backfillIndex] with { Budget = budget, Items = more.Items };
            await CheckEligibilityAsync(userId, more.Items.Select(i => i.ItemId), exclude, eligibility, options, cancellationToken);
        }

        var candidates = new CandidateDto[selected.Count];
        for (var i = 0; i < candidates.Length; i++)
        {
            candidates[i] = new CandidateDto(selected[i].ItemId, selected[i].Score, selected[i].Sources);
        }

        var reports = new SourceReport[outcomes.Length];
        var degraded = new List<string>();
        for (var i = 0; i < outcomes.Length; i++)
        {
            var o = outcomes[i];
            var isBackfill = i == backfillIndex;
            reports[i] = new SourceReport(
                o.Source,
                lists[i].Count,
                o.ElapsedMs + (isBackfill ? backfillElapsed : 0),
                o.Failed,
                o.Error ?? (isBackfill ? backfillError : null));
            if (o.Failed)
            {
                degraded.Add(o.Source);
            }
        }

        var elapsed = _time.GetElapsedTime(started).TotalMilliseconds;
        _telemetry.RequestCompleted(elapsed, candidates.Length, degraded.Count > 0);
        activity?.SetTag("recsys.candidates", candidates.Length);
        if (degraded.Count > 0)
        {
            activity?.SetTag("recsys.degraded", string.Join(',', degraded));
        }

        return new CandidateResponse(userId, candidates, reports, degraded, elapsed);
    }

    private async Task<SourceRun> RunAsync(
        ICandidateSource source,
        RetrievalRequestContext request,
        int budget,
        TimeSpan timeout,
        CancellationToken cancellationToken)
    {
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
            var elapsed = _time.GetElapsedTime(started).TotalMilliseconds;
            _telemetry.SourceCompleted(source.Name, elapsed, "ok");
            activity?.SetTag("recsys.returned", items.Count);
            return new SourceRun(source.Name, budget, items, elapsed, Failed: false, Error: null, Exception: null);
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
            reason = ex is RedisException ? "store" : "error";
            error = $"{ex.GetType().Name}: {ex.Message}";
            exception = ex;
        }

        var failedAfter = _time.GetElapsedTime(started).TotalMilliseconds;
        _telemetry.SourceCompleted(source.Name, failedAfter, reason);
        _telemetry.SourceFailed(source.Name, reason);
        activity?.SetStatus(ActivityStatusCode.Error, error);
        RetrievalLog.SourceFailed(_logger, source.Name, error, exception);
        return new SourceRun(source.Name, budget, [], failedAfter, Failed: true, error, exception);
    }

    /// <summary>Fills <paramref name="eligibility"/> for the ids not excluded and not yet known (one round trip).</summary>
    private async Task CheckEligibilityAsync(
        string userId,
        IEnumerable<string> ids,
        IReadOnlySet<string> exclude,
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
            flags = await _filter.CheckAsync(userId, unknown, cancellationToken)
                .WaitAsync(TimeSpan.FromMilliseconds(options.FilterTimeoutMs), _time, cancellationToken);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            throw new OnlineStoreUnavailableException("The eligibility filter could not read the online store.", ex);
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

    private static int FindBackfill(RetrievalPlan plan, RetrievalOptions options)
    {
        if (string.IsNullOrEmpty(options.BackfillSource))
        {
            return -1;
        }

        for (var i = 0; i < plan.Sources.Count; i++)
        {
            if (string.Equals(plan.Sources[i].Name, options.BackfillSource, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return -1;
    }

    private static SourceResult[] ToResults(RetrievalPlan plan, SourceRun[] outcomes, IReadOnlyList<ScoredItem>[] lists)
    {
        var results = new List<SourceResult>(outcomes.Length);
        for (var i = 0; i < outcomes.Length; i++)
        {
            if (!outcomes[i].Failed)
            {
                results.Add(new SourceResult(outcomes[i].Source, plan.Sources[i].Weight, lists[i]));
            }
        }

        return [.. results];
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

    private static IReadOnlyList<ScoredItem> Prefix(IReadOnlyList<ScoredItem> items, int count)
    {
        if (items.Count <= count)
        {
            return items;
        }

        var result = new ScoredItem[count];
        for (var i = 0; i < count; i++)
        {
            result[i] = items[i];
        }

        return result;
    }

    private sealed record SourceRun(
        string Source,
        int Budget,
        IReadOnlyList<ScoredItem> Items,
        double ElapsedMs,
        bool Failed,
        string? Error,
        Exception? Exception);
}
