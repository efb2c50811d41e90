namespace RecSys.Retrieval.Bench;

/// <summary>
/// The request time the sources see (creator recency) is fixed, so that two builds asked the same question get bitwise the
/// same scores; timestamps (cache expiry, elapsed times) and timers stay real.
/// </summary>
internal sealed class FixedNowTimeProvider(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}
