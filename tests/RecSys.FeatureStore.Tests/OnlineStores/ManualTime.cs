namespace RecSys.FeatureStore.Tests.OnlineStores;

/// <summary>A clock the test moves by hand (wall time and timestamps advance together).</summary>
internal sealed class ManualTime(DateTimeOffset start) : TimeProvider
{
    private long _offsetTicks;

    public DateTimeOffset Now => start.AddTicks(Interlocked.Read(ref _offsetTicks));

    public override DateTimeOffset GetUtcNow() => Now;

    public override long GetTimestamp() => Interlocked.Read(ref _offsetTicks);

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public void Advance(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);

    public void Set(DateTimeOffset now) => Interlocked.Exchange(ref _offsetTicks, (now - start).Ticks);
}
