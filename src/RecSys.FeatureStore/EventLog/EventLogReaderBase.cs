namespace RecSys.FeatureStore.EventLog;

/// <summary>
/// What the readers of both logs share: reads on one cursor take turns, and disposing cancels a read in progress. The
/// cursor (scan iterator, consumer) is released by whoever holds the turn once the reader is disposed (Dispose itself
/// when no read is in progress, else that read on its way out), so Dispose never blocks on a read.
/// </summary>
internal abstract class EventLogReaderBase : IEventLogReader
{
    private readonly SemaphoreSlim _turn = new(1, 1);
    private readonly CancellationTokenSource _closing = new();
    private int _disposed;
    private bool _released;

    public async ValueTask<LogBatch> ReadAsync(LogPosition fromPosition, int maxRecords, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRecords);
        Validate(fromPosition);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closing.Token);
        try
        {
            // Without the caller's context: Close waits for a cancelled read to leave, and must not wait for a context it
            // is blocking.
            await _turn.WaitAsync(linked.Token).ConfigureAwait(false);
            try
            {
                ObjectDisposedException.ThrowIf(IsDisposed, this);
                return await ReadInTurnAsync(fromPosition, maxRecords, linked.Token).ConfigureAwait(false);
            }
            finally
            {
                _turn.Release();
                ReleaseIfDisposed();
            }
        }
        catch (OperationCanceledException) when (_closing.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new ObjectDisposedException(GetType().Name, "The reader was disposed during the read.");
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _closing.Cancel();
        ReleaseIfDisposed();
    }

    /// <summary>
    /// Disposes the reader and waits up to <paramref name="patience"/> for a read in progress to leave, so that the log
    /// can be closed under it. A read ends soon once cancelled: it only ever waits in a cancellable wait.
    /// </summary>
    public void Close(TimeSpan patience)
    {
        Dispose();
        if (_turn.Wait(patience))
        {
            try
            {
                ReleaseOnce();
            }
            finally
            {
                _turn.Release();
            }
        }
    }

    private bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Throws <see cref="ArgumentException"/> for a position this log cannot read from.</summary>
    protected abstract void Validate(LogPosition fromPosition);

    /// <summary>
    /// The read itself, with the turn held (no other read of this reader runs meanwhile). Its awaits leave the caller's
    /// context (<c>ConfigureAwait(false)</c>), for the reason given in <see cref="ReadAsync"/>.
    /// </summary>
    protected abstract ValueTask<LogBatch> ReadInTurnAsync(LogPosition fromPosition, int maxRecords, CancellationToken cancellationToken);

    /// <summary>Releases the cursor; called once, with the turn held.</summary>
    protected abstract void ReleaseCursor();

    private void ReleaseIfDisposed()
    {
        // Dispose sets the flag before trying the turn, and a read gives the turn back before looking at the flag: one of
        // the two sees the other, so the cursor is released exactly once.
        if (!IsDisposed || !_turn.Wait(0))
        {
            return;
        }

        try
        {
            ReleaseOnce();
        }
        finally
        {
            _turn.Release();
        }
    }

    private void ReleaseOnce()
    {
        if (!_released)
        {
            _released = true;
            ReleaseCursor();
        }
    }
}
