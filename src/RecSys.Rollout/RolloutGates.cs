using System.Globalization;
using System.Text.Json.Serialization;
using RecSys.Rollout.Statistics;

namespace RecSys.Rollout;

/// <summary>A gate's answer at one evaluation.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<GateVerdict>))]
public enum GateVerdict
{
    /// <summary>The gate does not apply to this stage (e.g. CTR in shadow, where the candidate serves nobody).</summary>
    NotApplicable,

    /// <summary>Not enough data yet, or an estimate over the limit that is not yet significant.</summary>
    Pending,

    Pass,

    /// <summary>The candidate is demonstrably worse: the rollout rolls back.</summary>
    Fail,
}

/// <summary>One gate's verdict with the numbers behind it.</summary>
public sealed record GateResult(string Gate, GateVerdict Verdict, string Detail);

/// <summary>The gates: each compares the candidate with production over the same window.</summary>
public static class RolloutGates
{
    public const string Latency = "latency";
    public const string ErrorRate = "error_rate";
    public const string Ctr = "ctr";
    public const string ScoreDistribution = "score_distribution";
    public const string ScoreValidity = "score_validity";

    /// <summary>Reason tag of a rollback an operator asked for.</summary>
    public const string Manual = "manual";

    /// <summary>Reason tag of a rollback because the candidate could not be activated in the registry.</summary>
    public const string Activation = "activation";

    /// <summary>The host could not load the candidate's files (a rollback outside the timed gates).</summary>
    public const string Load = "load";

    internal static IReadOnlyList<GateResult> Evaluate(RolloutOptions options, MetricsWindow window) =>
    [
        ScoreValidityGate(options, window.Candidate),
        ErrorRateGate(options, window.Candidate),
        LatencyGate(options, window),
        CtrGate(options, window),
        ScoreDistributionGate(options, window),
    ];

    private static GateResult ScoreValidityGate(RolloutOptions options, ArmMetrics candidate)
    {
        var seen = Interlocked.Read(ref candidate.ScoresSeen);
        var invalid = Interlocked.Read(ref candidate.InvalidScores);
        if (invalid > 0)
        {
            var example = Volatile.Read(ref candidate.FirstInvalidScore)?.Value ?? float.NaN;
            return new(ScoreValidity, GateVerdict.Fail, Format(
                $"{invalid} of {seen} scores were NaN, infinite or outside [{options.MinScore}, {options.MaxScore}] (first: {example})"));
        }

        return seen == 0
            ? new(ScoreValidity, GateVerdict.Pending, "no candidate scores yet")
            : new(ScoreValidity, GateVerdict.Pass, Format($"{seen} scores, all finite and in range"));
    }

    private static GateResult ErrorRateGate(RolloutOptions options, ArmMetrics candidate)
    {
        var requests = Interlocked.Read(ref candidate.Requests);
        var errors = Interlocked.Read(ref candidate.Errors);
        if (requests < options.MinErrorSamples)
        {
            return new(ErrorRate, GateVerdict.Pending, Format($"{requests} of {options.MinErrorSamples} requests needed"));
        }

        var rate = (double)errors / requests;
        var (lower, upper) = Wilson.Interval(errors, requests, options.BoundZ);
        var detail = Format($"{errors} errors in {requests} requests ({rate:P2}; interval {lower:P2}..{upper:P2}) against the {options.MaxErrorRate:P1} limit");
        // Fail only when even the interval's lower end is over the limit: a healthy version's unlucky streak does not roll back.
        return lower >= options.MaxErrorRate ? new(ErrorRate, GateVerdict.Fail, detail)
            : rate < options.MaxErrorRate ? new(ErrorRate, GateVerdict.Pass, detail)
            : new(ErrorRate, GateVerdict.Pending, detail + " (over the limit, not yet significant)");
    }

    private static GateResult LatencyGate(RolloutOptions options, MetricsWindow window)
    {
        if (window.Stage == RolloutStage.Ramp100)
        {
            return new(Latency, GateVerdict.NotApplicable, "production serves no traffic at 100 %");
        }

        var candidate = window.Candidate.Latency;
        var production = window.Production.Latency;
        long nc = candidate.Count, np = production.Count;
        if (nc < options.MinLatencySamples || np < options.MinLatencySamples)
        {
            return new(Latency, GateVerdict.Pending, Format($"latencies: candidate {nc}, production {np}; {options.MinLatencySamples} each needed"));
        }

        var q = options.LatencyQuantile;
        var (candidateLow, candidatePoint, _) = QuantileBounds(candidate, nc, q, options.BoundZ);
        var (_, productionPoint, productionHigh) = QuantileBounds(production, np, q, options.BoundZ);
        var limit = options.MaxLatencyRatio;
        var detail = Format($"p{q * 100:0.#}: candidate {candidatePoint / 1000:F2} ms (≥ {candidateLow / 1000:F2}), production {productionPoint / 1000:F2} ms (≤ {productionHigh / 1000:F2}); ratio {candidatePoint / productionPoint:F3} against {limit:F2}");
        // Distribution-free order-statistic bounds: fail only when the candidate's quantile is surely above the limit.
        return candidateLow > limit * productionHigh ? new(Latency, GateVerdict.Fail, detail)
            : candidatePoint <= limit * productionPoint ? new(Latency, GateVerdict.Pass, detail)
            : new(Latency, GateVerdict.Pending, detail + " (over the limit, not yet significant)");
    }

    /// <summary>
    /// Quantile q of n samples with the order statistics that bound it: the rank of the q-quantile among n draws is
    /// Binomial(n, q), so ranks nq ∓ z √(nq(1−q)) bracket it with normal-approximation confidence, whatever the distribution.
    /// </summary>
    private static (double Low, double Point, double High) QuantileBounds(LatencyHistogram histogram, long n, double q, double z)
    {
        var centre = q * n;
        var spread = z * Math.Sqrt(n * q * (1 - q));
        var lowRank = Math.Max(1, (long)Math.Floor(centre - spread));
        var highRank = Math.Min(n, (long)Math.Ceiling(centre + spread) + 1);
        var pointRank = Math.Max(1, (long)Math.Ceiling(centre));
        return (histogram.ValueAtRank(lowRank, BucketEdge.Lower), histogram.ValueAtRank(pointRank, BucketEdge.Middle), histogram.ValueAtRank(highRank, BucketEdge.Upper));
    }

    private static GateResult CtrGate(RolloutOptions options, MetricsWindow window)
    {
        if (!RolloutStages.ComparesServedTraffic(window.Stage))
        {
            return new(Ctr, GateVerdict.NotApplicable, window.Stage == RolloutStage.Shadow
                ? "the candidate serves nobody in shadow"
                : "production serves no traffic at 100 %");
        }

        var candidate = window.Candidate.Ctr.Estimate();
        var production = window.Production.Ctr.Estimate();
        if (candidate.Denominator < options.MinImpressions || production.Denominator < options.MinImpressions
            || double.IsInfinity(candidate.Variance) || double.IsInfinity(production.Variance))
        {
            return new(Ctr, GateVerdict.Pending, Format($"impressions: candidate {candidate.Denominator}, production {production.Denominator}; {options.MinImpressions} each needed"));
        }

        // Always-valid interval of the CTR difference; the false-alarm budget is split over the stages that run the test.
        var alpha = options.CtrAlpha / RolloutStages.CtrTestedStages;
        var difference = candidate.Ratio - production.Ratio;
        var halfWidth = NormalMixtureConfidenceSequence.HalfWidth(candidate.Variance + production.Variance, options.CtrMixtureStdDev, alpha);
        var margin = -options.MaxCtrDrop * production.Ratio;
        var relative = production.Ratio > 0 ? difference / production.Ratio : 0;
        var detail = Format($"CTR candidate {candidate.Ratio:F4} ({candidate.Numerator}/{candidate.Denominator}), production {production.Ratio:F4} ({production.Numerator}/{production.Denominator}), change {relative:+0.0%;-0.0%}; always-valid {1 - alpha:P2} interval of the difference [{difference - halfWidth:+0.0000;-0.0000}, {difference + halfWidth:+0.0000;-0.0000}] against the margin {margin:+0.0000;-0.0000}");
        // One-sided on purpose: a candidate is rolled back when it is surely worse than the margin; a better one must ramp.
        return difference + halfWidth < margin ? new(Ctr, GateVerdict.Fail, detail) : new(Ctr, GateVerdict.Pass, detail);
    }

    private static GateResult ScoreDistributionGate(RolloutOptions options, MetricsWindow window)
    {
        if (window.Stage != RolloutStage.Shadow)
        {
            return new(ScoreDistribution, GateVerdict.NotApplicable, "compared in shadow, where both versions score the same requests");
        }

        var candidate = window.Candidate.Scores.Snapshot();
        var production = window.Production.Scores.Snapshot();
        if (candidate.Length < options.MinScoreSamples || production.Length < options.MinScoreSamples)
        {
            return new(ScoreDistribution, GateVerdict.Pending, Format($"score samples: candidate {candidate.Length}, production {production.Length}; {options.MinScoreSamples} each needed"));
        }

        var d = KolmogorovSmirnov.Statistic(candidate, production);
        var p = KolmogorovSmirnov.PValue(d, candidate.Length, production.Length);
        var detail = Format($"KS D = {d:F4} over {candidate.Length} and {production.Length} scores, p = {p:G3} against {options.KsMinPValue}");
        return p <= options.KsMinPValue ? new(ScoreDistribution, GateVerdict.Fail, detail) : new(ScoreDistribution, GateVerdict.Pass, detail);
    }

    private static string Format(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
