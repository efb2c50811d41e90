using System.Collections.Concurrent;
using System.Threading.Tasks.Sources;

namespace RecSys.Batching;

/// <summary>
/// One caller's rows on their way through the batcher, and the awaitable its caller holds. Pooled: it returns to the pool
/// once both the caller (after reading the result) and the batcher (after its last slice) have let go of it.
/// </summary>
internal sealed class BatchRequest<TRow> : IValueTaskSource
{
    private const int Active = 0;
    private const int Completed = 1;
    private const int Cancelled = 2;
    private const int Failed = 3;

    private readonly Lock _gate = new();
    private readonly RequestPool<TRow> _pool;
    private ManualResetValueTaskSourceCore<bool> _completion = new() { RunContinuationsAsynchronously = true };
    private CancellationTokenRegistration _registration;
    private CancellationToken _cancellationToken;
    private int _state;
    private int _references;
    private int _rowsDelivered;

    public BatchRequest(RequestPool<TRow> pool) => _pool = pool;

    public ReadOnlyMemory<TRow> Rows { get; private set; }

    public Memory<float> Scores { get; private set; }

    /// <summary>Timestamp (of the batcher's TimeProvider) at which the request entered the queue.</summary>
    public long EnqueuedAt { get; private set; }

    /// <summary>First row not yet taken into a batch; only the worker holding the request touches it.</summary>
    public int NextRow { get; set; }

    public short Version => _completion.Version;

    /// <summary>Cancelled or failed: no further row of it may reach the scorer.</summary>
    public bool IsAbandoned => Volatile.Read(ref _state) is Cancelled or Failed;

    public void Start(ReadOnlyMemory<TRow> rows, Memory<float> scores, long enqueuedAt, CancellationToken cancellationToken)
    {
        Rows = rows;
        Scores = scores;
        EnqueuedAt = enqueuedAt;
        NextRow = 0;
        _rowsDelivered = 0;
        _state = Active;
        _references = 2;
        _cancellationToken = cancellationToken;
        if (cancellationToken.CanBeCanceled)
        {
            _registration = cancellationToken.UnsafeRegister(static state => ((BatchRequest<TRow>)state!).OnCancellationRequested(), this);
        }
    }

    /// <summary>Copies a slice's scores to the caller; true with <paramref name="completed"/> set when it was the last slice.</summary>
    public bool TryDeliver(int offset, ReadOnlySpan<float> scores, out bool completed)
    {
        completed = false;
        lock (_gate)
        {
            // Under the gate, so a caller that has seen its cancellation never has its buffer written afterwards.
            if (_state != Active)
            {
                return false;
            }

            scores.CopyTo(Scores.Span[offset..]);
            _rowsDelivered += scores.Length;
            if (_rowsDelivered == Rows.Length)
            {
                _state = Completed;
                _completion.SetResult(true);
                completed = true;
            }

            return true;
        }
    }

    public bool TryFail(Exception exception)
    {
        lock (_gate)
        {
            if (_state != Active)
            {
                return false;
            }

            _state = Failed;
            _completion.SetException(exception);
            return true;
        }
    }

    private void OnCancellationRequested()
    {
        lock (_gate)
        {
            if (_state != Active)
            {
                return;
            }

            _state = Cancelled;
            _completion.SetException(new OperationCanceledException(_cancellationToken));
        }
    }

    /// <summary>The batcher holds no slice of this request any more.</summary>
    public void ReleaseFromBatcher() => Release();

    public ValueTaskSourceStatus GetStatus(short token) => _completion.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _completion.OnCompleted(continuation, state, token, flags);

    public void GetResult(short token)
    {
        try
        {
            _completion.GetResult(token);
        }
        finally
        {
            // Waits for a cancellation callback still running, so nothing touches this object once it is pooled.
            _registration.Dispose();
            _registration = default;
            Release();
        }
    }

    private void Release()
    {
        if (Interlocked.Decrement(ref _references) != 0)
        {
            return;
        }

        _completion.Reset();
        Rows = default;
        Scores = default;
        _cancellationToken = default;
        _pool.Return(this);
    }
}

/// <summary>A bounded free list of requests, so a steady load allocates none.</summary>
internal sealed class RequestPool<TRow>(int capacity)
{
    private readonly ConcurrentQueue<BatchRequest<TRow>> _free = new();
    private int _count;

    public BatchRequest<TRow> Rent()
    {
        if (_free.TryDequeue(out var request))
        {
            Interlocked.Decrement(ref _count);
            return request;
        }

        return new BatchRequest<TRow>(this);
    }

    public void Return(BatchRequest<TRow> request)
    {
        if (Interlocked.Increment(ref _count) <= capacity)
        {
            _free.Enqueue(request);
        }
        else
        {
            Interlocked.Decrement(ref _count);
        }
    }
}
