using RecSys.Candidates;
using RecSys.Retrieval.Sources;

namespace RecSys.Retrieval.Services;

/// <summary>
/// One source within one request, from plan to report: what it was asked for, what it returned, and how much of that it
/// contributes to fusion. <see cref="Contributed"/> is the one place that decides the contribution.
/// </summary>
internal sealed class SourceState(ICandidateSource source, SourcePlan plan, int fetch, bool isBackfill)
{
    public ICandidateSource Source { get; } = source;

    public SourcePlan Plan { get; } = plan;

    public string Name => Plan.Name;

    /// <summary>Candidates asked of the source in its last read (grows when the backfill reads further).</summary>
    public int Fetch { get; set; } = fetch;

    /// <summary>True for the source that fills short lists (<see cref="RetrievalOptions.BackfillSource"/>).</summary>
    public bool IsBackfill { get; } = isBackfill;

    /// <summary>Everything the source returned, best first: its contribution is a prefix, the rest is reserve.</summary>
    public IReadOnlyList<ScoredItem> Returned { get; private set; } = [];

    /// <summary>The index key of each item of <see cref="Returned"/>, aligned with it (fusion and eligibility find items by key).</summary>
    public long[] Keys { get; private set; } = [];

    /// <summary>How many of <see cref="Returned"/> take part in fusion.</summary>
    public int Contributed { get; private set; }

    public double ElapsedMs { get; set; }

    public bool Failed { get; private set; }

    public string? Error { get; private set; }

    public Exception? Exception { get; private set; }

    public void Succeeded(IReadOnlyList<ScoredItem> items, double elapsedMs)
    {
        Returned = items;
        Keys = KeyedScoredItems.KeysOf(items);
        ElapsedMs += elapsedMs;
    }

    public void Fail(string error, Exception? exception, double elapsedMs)
    {
        Failed = true;
        Error = error;
        Exception = exception;
        Returned = [];
        Keys = [];
        Contributed = 0;
        ElapsedMs += elapsedMs;
    }

    /// <summary>
    /// A source contributes its budget; a fallback source fetched its boosted budget in reserve and keeps it only when the
    /// critical source failed (when the critical source is absent, the boost is already in its budget).
    /// </summary>
    public void Contribute(bool criticalFailed)
    {
        var keep = Plan.BoostedOnFallback && !criticalFailed ? Plan.Budget : Plan.FetchBudget;
        Contributed = Math.Min(keep, Returned.Count);
    }

    /// <summary>Extends the contribution over the reserve (the backfill).</summary>
    public void ContributeUpTo(int count) => Contributed = Math.Clamp(count, Contributed, Returned.Count);

    /// <summary>Replaces what the source returned with a deeper read, keeping the contribution.</summary>
    public void Reread(IReadOnlyList<ScoredItem> items, int fetch, double elapsedMs)
    {
        Fetch = fetch;
        Returned = items;
        Keys = KeyedScoredItems.KeysOf(items);
        Contributed = Math.Min(Contributed, items.Count);
        ElapsedMs += elapsedMs;
    }

    /// <summary>A failed re-read: the source keeps what it had, and the report says why the backfill stopped.</summary>
    public void RereadFailed(string error, double elapsedMs)
    {
        Error ??= "backfill: " + error;
        ElapsedMs += elapsedMs;
    }
}
