using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace RecSys.Batching;

/// <summary>
/// Gathers the rows of concurrent scoring requests into batches for one model call each.
/// <para>
/// A batch closes when it holds the current maximum rows, when its oldest row has waited the current maximum wait, or
/// early, at 0.8 x that wait, once it holds at least half the maximum (and at least the minimum batch). A request larger
/// than the room left in a batch is split: its rows go, in order, into as many consecutive batches as needed, and its task
/// completes when its last row is scored. Requests are taken first come, first served.
/// </para>
/// <para>
/// A request cancelled before its batch is sealed never reaches the scorer; whenever it is cancelled its caller gets an
/// <see cref="OperationCanceledException"/> at once and its score buffer is not written afterwards. A full queue rejects
/// with <see cref="BatchQueueFullException"/>. A failing scorer fails only the requests of that batch.
/// </para>
/// </summary>
/// <typeparam name="TRow">A candidate row, turned into floats by the <see cref="FeatureAssembler{TRow}"/>.</typeparam>
public sealed partial class DynamicBatcher<TRow> : IAsyncDisposable
{
    private readonly DynamicBatchingOptions _options;
    private readonly FeatureAssembler<TRow> _assembler;
    private readonly BatchScorer _scorer;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly AdaptiveLimits _limits;
    private readonly BatchingMetrics _metrics;
    private readonly RequestPool<TRow> _pool;
    private readonly ConcurrentQueue<BatchRequest<TRow>> _queue = new();
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Worker[] _workers;
    private readonly Task[] _workerTasks;
    private int _queuedRows;
    private int _parkedWorkers;
    private int _disposeStarted;
    private int _workersExited;
    private bool _stopping;
    private long _batchServiceTicks;

    public DynamicBatcher(
        DynamicBatchingOptions options,
        FeatureAssembler<TRow> assembler,
        BatchScorer scorer,
        TimeProvider? timeProvider = null,
        ILogger? logger = null,
        IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(assembler);
        ArgumentNullException.ThrowIfNull(scorer);
        options.Validate();
        _options = options;
        _assembler = assembler;
        _scorer = scorer;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _limits = new AdaptiveLimits(options, _timeProvider);
        _metrics = new BatchingMetrics(options.Name, meterFactory, () => Volatile.Read(ref _queuedRows), () => _limits.Current);
        _pool = new RequestPool<TRow>(Math.Min(options.QueueCapacityRows, 4096));
        _batchServiceTicks = options.MaxWait.Ticks;

        _workers = new Worker[options.WorkerCount];
        _workerTasks = new Task[options.WorkerCount];
        for (var i = 0; i < _workers.Length; i++)
        {
            _workers[i] = new Worker(options, _timeProvider);
        }

        for (var i = 0; i < _workers.Length; i++)
        {
            var worker = _workers[i];
            _workerTasks[i] = Task.Run(() => RunWorkerAsync(worker));
        }
    }

    /// <summary>The limits batches are currently formed under (they move when adaptation is on).</summary>
    public BatchingLimits CurrentLimits => _limits.Current;

    /// <summary>Rows accepted but not yet taken into a batch.</summary>
    public int QueuedRows => Volatile.Read(ref _queuedRows);

    /// <summary>Workers parked waiting for work or for a batch deadline (a quiescence probe for tests).</summary>
    internal int ParkedWorkers => Volatile.Read(ref _parkedWorkers);

    internal int WorkerCount => _workers.Length;

    /// <summary>
    /// Queues <paramref name="rows"/> for scoring; the returned task completes once <paramref name="scores"/> holds one
    /// score per row. Both memories must stay untouched until then. Await the task exactly once.
    /// </summary>
    /// <exception cref="ArgumentException">The score buffer is shorter than the rows, or the request exceeds the queue capacity.</exception>
    /// <exception cref="BatchQueueFullException">The queue cannot take the rows now; retry after the suggested delay.</exception>
    /// <exception cref="ObjectDisposedException">The batcher is being disposed.</exception>
    public ValueTask ScoreAsync(ReadOnlyMemory<TRow> rows, Memory<float> scores, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposeStarted) != 0, this);
        if (scores.Length < rows.Length)
        {
            throw new ArgumentException($"The score buffer holds {scores.Length} floats for {rows.Length} rows.", nameof(scores));
        }

        if (rows.Length > _options.QueueCapacityRows)
        {
            throw new ArgumentException(
                $"A request of {rows.Length} rows exceeds the queue capacity of batcher '{_options.Name}' ({_options.QueueCapacityRows} rows).", nameof(rows));
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        if (rows.IsEmpty)
        {
            return ValueTask.CompletedTask;
        }

        var queued = Interlocked.Add(ref _queuedRows, rows.Length);
        if (queued > _options.QueueCapacityRows)
        {
            Interlocked.Add(ref _queuedRows, -rows.Length);
            _metrics.Rejected();
            throw new BatchQueueFullException(_options.Name, queued - rows.Length, _options.QueueCapacityRows, rows.Length, SuggestRetryDelay(queued));
        }

        var request = _pool.Rent();
        request.Start(rows, scores, _timeProvider.GetTimestamp(), cancellationToken);
        var version = request.Version;
        _queue.Enqueue(request);
        WakeOneWorker();
        if (Volatile.Read(ref _workersExited) != 0)
        {
            // Disposal finished between the check above and the enqueue: nobody will take this request.
            FailQueued();
        }

        return new ValueTask(request, version);
    }

    /// <summary>
    /// Stops accepting requests and lets the workers score what is queued; after the drain timeout the requests still
    /// queued fail with <see cref="ObjectDisposedException"/> and the scorer's token is cancelled.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposeStarted, 1) != 0)
        {
            return;
        }

        Volatile.Write(ref _stopping, true);
        foreach (var worker in _workers)
        {
            worker.Wakeup.TrySignal(byWork: true);
        }

        var all = Task.WhenAll(_workerTasks);
        var drained = true;
        try
        {
            await all.WaitAsync(_options.DrainTimeout, _timeProvider).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            drained = false;
            BatchingLog.DrainTimedOut(_logger, _options.Name, _options.DrainTimeout.TotalMilliseconds, QueuedRows);
        }

        Interlocked.Exchange(ref _workersExited, 1);
        // Fail the queue before cancelling the scorer, so a worker freed by the cancellation finds nothing left to take.
        FailQueued();
        if (!drained)
        {
            await _shutdown.CancelAsync().ConfigureAwait(false);
        }
        else
        {
            // Workers still inside a scorer that ignores cancellation keep their buffers and timers until it returns.
            foreach (var worker in _workers)
            {
                worker.Dispose();
            }

            _shutdown.Dispose();
        }

        _metrics.Dispose();
    }

    private void FailQueued()
    {
        while (_queue.TryDequeue(out var request))
        {
            Interlocked.Add(ref _queuedRows, -request.Rows.Length);
            request.TryFail(new ObjectDisposedException(GetType().Name, $"Batcher '{_options.Name}' was disposed before this request was scored."));
            request.ReleaseFromBatcher();
        }
    }

    private void WakeOneWorker()
    {
        foreach (var worker in _workers)
        {
            if (worker.Wakeup.TrySignal(byWork: true))
            {
                return;
            }
        }
    }

    private TimeSpan SuggestRetryDelay(int queuedRows)
    {
        // Batches ahead x the recent service time of a batch, shared by the workers, plus one batch wait.
        var limits = _limits.Current;
        var batchesAhead = (queuedRows + limits.MaxBatchRows - 1) / limits.MaxBatchRows;
        var serviceTicks = Volatile.Read(ref _batchServiceTicks);
        var estimate = limits.MaxWait + TimeSpan.FromTicks(batchesAhead * serviceTicks / _workers.Length);
        return estimate > TimeSpan.FromSeconds(60) ? TimeSpan.FromSeconds(60) : estimate;
    }
}
