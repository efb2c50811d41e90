namespace RecSys.Candidates;

/// <summary>What one source is asked for in one request.</summary>
/// <param name="Budget">Candidates the source contributes to fusion when nothing failed.</param>
/// <param name="FetchBudget">
/// Candidates read from the source: larger than <paramref name="Budget"/> for the fallback sources, so that a failure of the
/// critical source can be compensated without a second round trip (the surplus is dropped when it succeeds).
/// </param>
public sealed record SourcePlan(string Name, double Weight, int Budget, int FetchBudget, bool BoostedOnFallback, TimeSpan Timeout);

/// <summary>The plan of one request.</summary>
/// <param name="FallbackSource">The critical source whose failure or absence boosts the fallback sources.</param>
/// <param name="FallbackActive">True when the critical source takes part (its failure is then decided per request).</param>
public sealed record RetrievalPlan(IReadOnlyList<SourcePlan> Sources, string FallbackSource, bool FallbackActive);

/// <summary>
/// Budgets per request: the configured budget (written for <see cref="RetrievalOptions.TargetCount"/>) times
/// <c>count / TargetCount</c>, rounded up, at least <see cref="RetrievalOptions.MinSourceBudget"/>; the fallback sources of
/// fallback policy (<see cref="RetrievalFallbackOptions"/>) get x <see cref="RetrievalFallbackOptions.BudgetMultiplier"/> when the critical source is absent,
/// and fetch that much in reserve when it is present. Sources are ordered by weight (descending), then name.
/// </summary>
public static class BudgetPlanner
{
    public static RetrievalPlan Plan(RetrievalOptions options, IEnumerable<string> registeredSources, int count)
    {
        var active = registeredSources
            .Where(name => options.Sources.TryGetValue(name, out var o) && o.Enabled)
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .ToList();
        var fallback = options.Fallback;
        var fallbackActive = active.Contains(fallback.Source, StringComparer.OrdinalIgnoreCase);

        var plans = new List<SourcePlan>(active.Count);
        foreach (var name in active)
        {
            var o = options.Sources[name];
            var scaled = Scale(o.Budget, count, options.TargetCount, options.MinSourceBudget);
            var boosted = fallback.Boost.Contains(name, StringComparer.OrdinalIgnoreCase)
                && !string.Equals(name, fallback.Source, StringComparison.OrdinalIgnoreCase);
            var reserve = boosted ? Multiply(scaled, fallback.BudgetMultiplier) : scaled;
            var budget = boosted && !fallbackActive ? reserve : scaled;
            var timeout = o.Timeout ?? options.SourceTimeout;
            plans.Add(new SourcePlan(name, o.Weight, budget, reserve, boosted && fallbackActive, timeout));
        }

        plans.Sort(static (a, b) =>
        {
            var byWeight = b.Weight.CompareTo(a.Weight);
            return byWeight != 0 ? byWeight : string.CompareOrdinal(a.Name, b.Name);
        });
        return new RetrievalPlan(plans, fallback.Source, fallbackActive);
    }

    /// <summary><c>max(minimum, ceil(budget x count / target))</c>, in integers.</summary>
    public static int Scale(int budget, int count, int target, int minimum)
    {
        var scaled = (((long)budget * count) + target - 1) / target;
        return (int)Math.Clamp(scaled, minimum, int.MaxValue);
    }

    /// <summary><c>ceil(budget x factor)</c>, tolerant of floating-point noise (50 x 1.5 is 75, not 76).</summary>
    public static int Multiply(int budget, double factor) => (int)Math.Ceiling((budget * factor) - 1e-9);
}
