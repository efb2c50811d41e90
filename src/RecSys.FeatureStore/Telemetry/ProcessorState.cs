namespace RecSys.FeatureStore.Telemetry;

/// <summary>Live numbers of the stream processor that the metrics and <c>/v1/status</c> read.</summary>
public sealed class ProcessorState
{
    private long _position;
    private long _tail;
    private bool _active;

    /// <summary>Log position up to which records are applied.</summary>
    public long Position
    {
        get => Interlocked.Read(ref _position);
        set => Interlocked.Exchange(ref _position, value);
    }

    /// <summary>Whether this instance's processor holds the lease and applies (false while it stands by).</summary>
    public bool Active
    {
        get => Volatile.Read(ref _active);
        set => Volatile.Write(ref _active, value);
    }

    /// <summary>The log tail last seen by the processor.</summary>
    public long Tail
    {
        get => Interlocked.Read(ref _tail);
        set => Interlocked.Exchange(ref _tail, value);
    }
}
