using RecSys.Retrieval.Diagnostics;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>
/// Full rebuilds, one at a time, in the background: under the gate, the queue is applied, every shard is rebuilt and
/// swapped in atomically by the shard set (searches go on and see the old or the new shard), filter metadata is re-read
/// and the result persisted. The status of the running (or last) rebuild is kept. When <paramref name="rebuildAll"/> is
/// given (the embedded backend) it replaces the per-shard rebuild: the whole index is built, verified and swapped at once
/// (<see cref="IndexActivator.RebuildServingAsync"/>).
/// </summary>
internal sealed class IndexRebuilder(
    SemaphoreSlim gate,
    IndexWriteApplier applier,
    IIndexShardSet shards,
    IndexedItems items,
    ItemMetadataRefresher metadata,
    IIndexPersistence persistence,
    IndexVersion version,
    TimeProvider time,
    RetrievalTelemetry telemetry,
    ILogger logger,
    CancellationToken stopping,
    Func<CancellationToken, Task>? rebuildAll = null)
{
    private readonly Lock _lock = new();
    private RebuildStatus _status = RebuildStatus.Idle;
    private Task _task = Task.CompletedTask;
    private DateTimeOffset? _lastCompleted;

    public RebuildStatus Status
    {
        get
        {
            lock (_lock)
            {
                return _status;
            }
        }
    }

    public bool IsRunning => Status.State == RebuildState.Running;

    /// <summary>When the last rebuild completed successfully.</summary>
    public DateTimeOffset? LastCompleted
    {
        get
        {
            lock (_lock)
            {
                return _lastCompleted;
            }
        }
    }

    /// <summary>The running (or last) rebuild.</summary>
    public Task Task
    {
        get
        {
            lock (_lock)
            {
                return _task;
            }
        }
    }

    /// <summary>Starts a rebuild unless one is running; returns its status.</summary>
    public RebuildStatus Start()
    {
        lock (_lock)
        {
            if (_status.State == RebuildState.Running)
            {
                return _status;
            }

            _status = new RebuildStatus(_status.Id + 1, RebuildState.Running, time.GetUtcNow(), null, null);
            var id = _status.Id;
            _task = Task.Run(() => RunAsync(id, stopping), CancellationToken.None);
            return _status;
        }
    }

    private async Task RunAsync(long id, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        try
        {
            await gate.WaitAsync(cancellationToken);
            try
            {
                await applier.ApplyAsync(cancellationToken);
                if (rebuildAll is not null)
                {
                    await rebuildAll(cancellationToken);
                }
                else
                {
                    await shards.RebuildAsync(items, () => version.Increment(), cancellationToken);
                }

                await metadata.RefreshAllAsync(cancellationToken);
                lock (_lock)
                {
                    _lastCompleted = time.GetUtcNow();
                }

                if (persistence.Persistent)
                {
                    await persistence.SaveAsync(cancellationToken);
                }
            }
            finally
            {
                gate.Release();
            }

            var count = Enumerable.Range(0, shards.Count).Sum(s => (long)shards.CountsOf(s).Vectors);
            VectorIndexLog.RebuildFinished(logger, count, version.Current, time.GetElapsedTime(started).TotalMilliseconds);
            telemetry.RebuildCompleted("ok");
            Complete(id, RebuildState.Completed, null);
        }
        catch (Exception ex)
        {
            VectorIndexLog.RebuildFailed(logger, ex);
            telemetry.RebuildCompleted(ex is IndexRejectedException ? "rejected" : "failed");
            Complete(id, RebuildState.Failed, ex is IndexRejectedException ? "Rejected, the previous index keeps serving: " + ex.Message : ex.GetType().Name + ": " + ex.Message);
        }
    }

    private void Complete(long id, RebuildState state, string? error)
    {
        lock (_lock)
        {
            _status = _status with { Id = id, State = state, CompletedAt = time.GetUtcNow(), Error = error };
        }
    }
}
