namespace RecSys.Retrieval.VectorIndex;

/// <summary>
/// The live index version: increases with every applied batch and every shard swap, and continues after the newest
/// persisted version at load, so that it never goes back, even across restarts.
/// </summary>
internal sealed class IndexVersion
{
    private long _value;

    public long Current => Interlocked.Read(ref _value);

    public long Increment() => Interlocked.Increment(ref _value);

    /// <summary>Moves past <paramref name="persisted"/> (+1 for the load's own swap); returns the new version.</summary>
    public long ContinueAfter(long persisted)
    {
        var next = Math.Max(Current, persisted) + 1;
        Interlocked.Exchange(ref _value, next);
        return next;
    }
}
