namespace RecSys.Learning.Als;

/// <summary>Hyper-parameters of implicit-feedback ALS; <see cref="Validate"/> runs before training starts.</summary>
public sealed record AlsOptions
{
    /// <summary>Latent dimension (the specification's 256 at scale; 32-128 for demos).</summary>
    public int Dimension { get; init; } = 64;

    /// <summary>L2 regularization lambda added to the diagonal of every row's normal equations.</summary>
    public float Regularization { get; init; } = 0.1f;

    /// <summary>Confidence slope: c = 1 + Alpha * strength (see <see cref="Interactions.ConfidenceFunction"/>).</summary>
    public float Alpha { get; init; } = 10f;

    public int Epochs { get; init; } = 15;

    /// <summary>Conjugate-gradient steps per row and half-epoch, warm-started from the previous factors.</summary>
    public int ConjugateGradientSteps { get; init; } = 3;

    public ulong Seed { get; init; } = 42;

    /// <summary>Initial factors are uniform in [-InitScale, InitScale] / sqrt(Dimension).</summary>
    public float InitScale { get; init; } = 0.1f;

    /// <summary>Threads; -1 uses every core. The result does not depend on it.</summary>
    public int MaxDegreeOfParallelism { get; init; } = -1;

    /// <summary>Computes the weighted loss after each epoch (one more pass over the data).</summary>
    public bool ComputeLoss { get; init; }

    public void Validate()
    {
        if (Dimension is < 1 or > 1024)
        {
            throw new ArgumentException($"Dimension must be in [1, 1024] (got {Dimension}).", nameof(Dimension));
        }

        if (!float.IsFinite(Regularization) || Regularization <= 0)
        {
            throw new ArgumentException($"Regularization must be finite and > 0 (got {Regularization}).", nameof(Regularization));
        }

        if (!float.IsFinite(Alpha) || Alpha < 0)
        {
            throw new ArgumentException($"Alpha must be finite and >= 0 (got {Alpha}).", nameof(Alpha));
        }

        if (Epochs < 0)
        {
            throw new ArgumentException($"Epochs must be >= 0 (got {Epochs}).", nameof(Epochs));
        }

        if (ConjugateGradientSteps < 1)
        {
            throw new ArgumentException($"ConjugateGradientSteps must be >= 1 (got {ConjugateGradientSteps}).", nameof(ConjugateGradientSteps));
        }

        if (!float.IsFinite(InitScale) || InitScale <= 0)
        {
            throw new ArgumentException($"InitScale must be finite and > 0 (got {InitScale}).", nameof(InitScale));
        }

        if (MaxDegreeOfParallelism is 0 or < -1)
        {
            throw new ArgumentException($"MaxDegreeOfParallelism must be -1 or >= 1 (got {MaxDegreeOfParallelism}).", nameof(MaxDegreeOfParallelism));
        }
    }
}

/// <summary>What one epoch took; <see cref="Loss"/> is set when <see cref="AlsOptions.ComputeLoss"/> is.</summary>
public sealed record AlsEpochReport(int Epoch, int TotalEpochs, TimeSpan Elapsed, TimeSpan GramTime, TimeSpan UserSolveTime, TimeSpan ItemSolveTime, double? Loss);
