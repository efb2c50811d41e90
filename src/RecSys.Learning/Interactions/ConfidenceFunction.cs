using RecSys.Core.Domain;

namespace RecSys.Learning.Interactions;

/// <summary>Parameters of <see cref="ConfidenceFunction"/>.</summary>
public sealed record ConfidenceOptions
{
    /// <summary>Hu-Koren-Volinsky alpha: how much one unit of engagement raises confidence above the baseline 1.</summary>
    public float Alpha { get; init; } = 10f;

    /// <summary>Age at which an event counts half. <see cref="TimeSpan.MaxValue"/> or zero disables decay.</summary>
    public TimeSpan HalfLife { get; init; } = TimeSpan.FromDays(60);

    public void Validate()
    {
        if (!float.IsFinite(Alpha) || Alpha < 0)
        {
            throw new ArgumentException($"Alpha must be finite and >= 0 (got {Alpha}).", nameof(Alpha));
        }

        if (HalfLife < TimeSpan.Zero)
        {
            throw new ArgumentException($"HalfLife must not be negative (got {HalfLife}).", nameof(HalfLife));
        }
    }
}

/// <summary>
/// Confidence of a (user, item) pair from its events:
/// <c>c = 1 + alpha * sum_e w(e) * 2^(-age(e) / halfLife)</c>, where <c>w</c> is <see cref="EventTypes.EngagementWeight"/>
/// (impressions and follows 0; ratings by value) and <c>age</c> is measured from a reference time ("now" of the training run).
/// Pairs whose decayed sum is 0 are not positives and are left out of the matrix; the matrix stores the sums
/// (<see cref="Strength"/>, summed by <see cref="InteractionMatrix.Build"/>), ALS applies <see cref="Confidence(float)"/>.
/// </summary>
public sealed class ConfidenceFunction
{
    private readonly double _decayPerSecond;

    public ConfidenceFunction(ConfidenceOptions options, DateTimeOffset referenceTime)
    {
        options.Validate();
        Options = options;
        ReferenceTime = referenceTime;
        _decayPerSecond = options.HalfLife == TimeSpan.Zero || options.HalfLife == TimeSpan.MaxValue
            ? 0
            : Math.Log(2) / options.HalfLife.TotalSeconds;
    }

    public ConfidenceOptions Options { get; }

    public DateTimeOffset ReferenceTime { get; }

    /// <summary>The decayed engagement weight of one event; events after the reference time count as age 0.</summary>
    public float Strength(EventType type, double? value, DateTimeOffset at)
    {
        var weight = EventTypes.EngagementWeight(type, value);
        if (weight == 0)
        {
            return 0;
        }

        var ageSeconds = Math.Max(0, (ReferenceTime - at).TotalSeconds);
        return (float)(weight * Math.Exp(-_decayPerSecond * ageSeconds));
    }

    /// <summary>The recency factor <c>2^(-age / halfLife)</c> of an event at <paramref name="at"/> (1 when decay is off).</summary>
    public float Decay(DateTimeOffset at) => (float)Math.Exp(-_decayPerSecond * Math.Max(0, (ReferenceTime - at).TotalSeconds));

    /// <summary>Confidence of a pair whose summed strength is <paramref name="strength"/>.</summary>
    public float Confidence(float strength) => Confidence(Options.Alpha, strength);

    public static float Confidence(float alpha, float strength) => 1f + (alpha * strength);
}
