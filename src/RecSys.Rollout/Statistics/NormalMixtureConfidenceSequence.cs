namespace RecSys.Rollout.Statistics;

/// <summary>
/// Always-valid confidence sequence for a difference of means from the normal-mixture sequential probability ratio test
/// (mSPRT; Robbins 1970, "Statistical methods related to the law of the iterated logarithm"; Johari, Koomen, Pekelis and
/// Walsh, "Always Valid Inference: Continuous Monitoring of A/B Tests", Operations Research 2022).
/// <para>
/// Let θ̂ estimate θ with variance V (shrinking as traffic accrues). With information I = 1/V, Z = θ̂ I is approximately a
/// Gaussian process with mean θ I and variance I, so for every λ, exp(λ (Z − θ I) − λ² I / 2) is a martingale under θ. Mixing λ
/// over N(0, τ²) gives the mixture likelihood ratio
///   Λ(θ) = √(V / (V + τ²)) · exp(τ² (θ̂ − θ)² / (2 V (V + τ²))),
/// a non-negative martingale with mean 1. Ville's inequality bounds P(sup Λ(θ) ≥ 1/α) ≤ α, so the set
///   { θ : |θ̂ − θ| &lt; √( V (V + τ²) / τ² · (2 ln(1/α) + ln((V + τ²) / V)) ) }
/// contains the true θ at every check simultaneously with probability at least 1 − α: looking at every interval does not
/// inflate the false-alarm rate. With a plug-in variance the guarantee is asymptotic (Waudby-Smith, Arbour, Sinha, Kennedy and
/// Ramdas, "Time-uniform central limit theory and asymptotic confidence sequences", Annals of Statistics 2024).
/// </para>
/// </summary>
public static class NormalMixtureConfidenceSequence
{
    /// <summary>Half-width of the (1 − <paramref name="alpha"/>) always-valid interval around an estimate of variance <paramref name="variance"/>.</summary>
    public static double HalfWidth(double variance, double mixtureStdDev, double alpha)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(variance);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(mixtureStdDev);
        if (alpha is <= 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "α must be in (0, 1).");
        }

        // A zero variance (no clicks anywhere yet) would make the log term infinite; a tiny floor keeps the width finite and tiny.
        var v = Math.Max(variance, 1e-18);
        var tau2 = mixtureStdDev * mixtureStdDev;
        return Math.Sqrt(v * (v + tau2) / tau2 * ((2 * Math.Log(1 / alpha)) + Math.Log((v + tau2) / v)));
    }

    /// <summary>The mixture likelihood ratio Λ of <paramref name="estimate"/> against the hypothesis <paramref name="hypothesis"/>.</summary>
    public static double LikelihoodRatio(double estimate, double hypothesis, double variance, double mixtureStdDev)
    {
        var v = Math.Max(variance, 1e-18);
        var tau2 = mixtureStdDev * mixtureStdDev;
        var gap = estimate - hypothesis;
        return Math.Sqrt(v / (v + tau2)) * Math.Exp(tau2 * gap * gap / (2 * v * (v + tau2)));
    }
}
