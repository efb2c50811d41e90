namespace RecSys.Trainer.Ingestion;

/// <summary>What the target did with one batch: accepted records, refused records and why.</summary>
public sealed record BatchOutcome(int Accepted, int Rejected, IReadOnlyList<string> Errors)
{
    public static BatchOutcome AllAccepted(int count) => new(count, 0, []);
}

/// <summary>How a command reacts to a bad input row or a refused record.</summary>
public enum OnErrorMode
{
    /// <summary>Count it, remember the first few reasons, and go on.</summary>
    Skip,

    /// <summary>Stop at the first one with a non-zero exit code.</summary>
    Stop,
}

/// <summary>Totals of one phase (items or events) sent to a sink.</summary>
public sealed record SendResult(string Phase, long Accepted, long Rejected, IReadOnlyList<string> Reasons, TimeSpan Elapsed, bool Stopped)
{
    public double Rate => (Accepted + Rejected) / Math.Max(Elapsed.TotalSeconds, 1e-3);
}
