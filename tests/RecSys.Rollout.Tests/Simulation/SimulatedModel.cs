namespace RecSys.Rollout.Tests.Simulation;

/// <summary>What goes wrong with a bad candidate.</summary>
internal enum SimulatedFault
{
    None,

    /// <summary>Every scoring call throws.</summary>
    Throws,

    /// <summary>Every scoring call takes <see cref="SimulatedModel.SlowFactor"/> times as long.</summary>
    Slow,

    /// <summary>One score in a hundred is NaN.</summary>
    NaNScores,

    /// <summary>Scores move up by half a logit: the ranking is the same, the calibration is not.</summary>
    ShiftedScores,
}

/// <summary>
/// A ranker of the simulated world: it sees the true affinity through noise of standard deviation <see cref="Noise"/>
/// (less noise = a better model), standardized so that every model's scores have the same distribution: only a fault or
/// a shift changes it. The same noise seed gives the same scores (an identical model).
/// </summary>
internal sealed record SimulatedModel(string Version, double Noise, ulong NoiseSeed)
{
    public const double SlowFactor = 1.5;

    public SimulatedFault Fault { get; init; }

    /// <summary>The fault shows from this stage on (a model that is fine in shadow and breaks under real traffic).</summary>
    public RolloutStage FaultFrom { get; init; } = RolloutStage.Shadow;

    public bool FaultActive(RolloutStage stage) => Fault != SimulatedFault.None && stage >= FaultFrom;

    public void Score(SimulatedWorld world, int user, ReadOnlySpan<int> items, Span<float> scores, RolloutStage stage)
    {
        var fault = FaultActive(stage) ? Fault : SimulatedFault.None;
        if (fault == SimulatedFault.Throws)
        {
            throw new InvalidOperationException($"Model {Version} failed to score.");
        }

        var scale = 1 / Math.Sqrt(1 + (Noise * Noise));
        for (var i = 0; i < items.Length; i++)
        {
            var z = (world.Affinity(user, items[i]) + (Noise * NoiseOf(user, items[i]))) * scale;
            if (fault == SimulatedFault.ShiftedScores)
            {
                z += 0.5;
            }

            scores[i] = fault == SimulatedFault.NaNScores && (user + items[i]) % 100 == 0 ? float.NaN : (float)SimulatedWorld.Sigmoid(z);
        }
    }

    /// <summary>Scoring time: lognormal around 4 ms (σ 0.25), times <see cref="SlowFactor"/> for a slow fault.</summary>
    public TimeSpan Latency(Random random, RolloutStage stage)
    {
        var milliseconds = 4 * Math.Exp(0.25 * SimulatedWorld.Gaussian(random));
        if (FaultActive(stage) && Fault == SimulatedFault.Slow)
        {
            milliseconds *= SlowFactor;
        }

        return TimeSpan.FromMilliseconds(milliseconds);
    }

    // A fixed standard-normal draw per (model seed, user, item): the model's view of an item never changes between requests.
    private double NoiseOf(int user, int item)
    {
        var h1 = Mix(NoiseSeed ^ ((ulong)(uint)user << 32) ^ (uint)item);
        var h2 = Mix(h1 ^ 0x9e3779b97f4a7c15UL);
        var u1 = ((h1 >> 11) + 1) * (1.0 / (1UL << 53));
        var u2 = (h2 >> 11) * (1.0 / (1UL << 53));
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    private static ulong Mix(ulong x)
    {
        x += 0x9e3779b97f4a7c15UL;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9UL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebUL;
        return x ^ (x >> 31);
    }
}
