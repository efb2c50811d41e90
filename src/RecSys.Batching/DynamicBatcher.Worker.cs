using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace RecSys.Batching;

public sealed partial class DynamicBatcher<TRow>
{
    /// <summary>A run of one request's rows inside a batch.</summary>
    private struct Slice
    {
        public BatchRequest<TRow> Request;
        public int Offset;
        public int Count;
        public int BatchRow;

        public readonly bool EndsRequest => Offset + Count == Request.Rows.Length;
    }

    /// <summary>What one batch-worker loop owns: its pooled buffers, the batch it is forming, a request it is splitting.</summary>
    private sealed class Worker : IDisposable
    {
        public Worker(DynamicBatchingOptions options, TimeProvider timeProvider)
        {
            var capacityRows = (int)BitOperations.RoundUpToPowerOf2((uint)options.MaxAdaptiveBatchRows);
            Features = ArrayPool<float>.Shared.Rent(capacityRows * options.FeatureWidth);
            Scores = ArrayPool<float>.Shared.Rent(capacityRows);
            Slices = new Slice[options.MaxAdaptiveBatchRows];
            Latencies = new long[options.MaxAdaptiveBatchRows];
            Wakeup = new WorkerWakeup(timeProvider);
        }

        public float[] Features { get; }

        public float[] Scores { get; }

        public Slice[] Slices { get; }

        public long[] Latencies { get; }

        public WorkerWakeup Wakeup { get; }

        public int SliceCount { get; set; }

        public int Rows { get; set; }

        /// <summary>A request whose remaining rows did not fit the last batch; it opens the next one.</summary>
        public BatchRequest<TRow>? Carry { get; set; }

        public void Dispose()
        {
            ArrayPool<float>.Shared.Return(Features);
            ArrayPool<float>.Shared.Return(Scores);
            Wakeup.Dispose();
        }
    }

    private async Task RunWorkerAsync(Worker worker)
    {
        try
        {
            while (true)
            {
                var first = TakeCarry(worker) ?? TryDequeueLive();
                if (first is null)
                {
                    if (Volatile.Read(ref _stopping))
                    {
                        return;
                    }

                    await ParkAsync(worker, Timeout.InfiniteTimeSpan).ConfigureAwait(false);
                    continue;
                }

                var limits = _limits.Current;
                worker.SliceCount = 0;
                worker.Rows = 0;
                Take(worker, first, limits.MaxBatchRows);
                var reason = await FillAsync(worker, limits, first.EnqueuedAt).ConfigureAwait(false);
                await ScoreBatchAsync(worker, reason).ConfigureAwait(false);
            }
        }
        catch (Exception exception)
        {
            // Only a defect gets here; fail what this worker holds rather than leave callers hanging.
            BatchingLog.WorkerFaulted(_logger, _options.Name, exception);
            for (var i = 0; i < worker.SliceCount; i++)
            {
                worker.Slices[i].Request?.TryFail(new BatchScoringException("The batch worker failed.", exception));
            }

            worker.Carry?.TryFail(new BatchScoringException("The batch worker failed.", exception));
        }
    }

    private BatchRequest<TRow>? TakeCarry(Worker worker)
    {
        var carry = worker.Carry;
        worker.Carry = null;
        if (carry is not null && carry.IsAbandoned)
        {
            // Cancelled or failed with rows never taken: its final slice will not come, so let go here.
            carry.ReleaseFromBatcher();
            return null;
        }

        return carry;
    }

    private BatchRequest<TRow>? TryDequeueLive()
    {
        while (_queue.TryDequeue(out var request))
        {
            Interlocked.Add(ref _queuedRows, -request.Rows.Length);
            if (!request.IsAbandoned)
            {
                return request;
            }

            request.ReleaseFromBatcher();
        }

        return null;
    }

    private static void Take(Worker worker, BatchRequest<TRow> request, int maxRows)
    {
        var count = Math.Min(request.Rows.Length - request.NextRow, maxRows - worker.Rows);
        worker.Slices[worker.SliceCount++] = new Slice { Request = request, Offset = request.NextRow, Count = count };
        request.NextRow += count;
        worker.Rows += count;
        if (request.NextRow < request.Rows.Length)
        {
            worker.Carry = request;
        }
    }

    // Pooled builders: these suspend once or more per batch, and a fresh state-machine box each time would be garbage.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<BatchCloseReason> FillAsync(Worker worker, BatchingLimits limits, long openedAt)
    {
        var deadline = openedAt + ToTimestampTicks(limits.MaxWait);
        var earlyAt = openedAt + ToTimestampTicks(limits.MaxWait * _options.EarlyTriggerWait);
        var earlyRows = Math.Max(_options.MinBatchRows, (int)Math.Ceiling(limits.MaxBatchRows * _options.EarlyTriggerFill));
        while (worker.Rows < limits.MaxBatchRows)
        {
            if (TryDequeueLive() is { } next)
            {
                Take(worker, next, limits.MaxBatchRows);
                continue;
            }

            if (Volatile.Read(ref _stopping))
            {
                return BatchCloseReason.Drain;
            }

            // Every queued row has joined above; a large request's last rows need not wait for more.
            if (HoldsEndOfLargeRequest(worker))
            {
                return BatchCloseReason.LargeRequest;
            }

            var now = _timeProvider.GetTimestamp();
            if (now >= deadline)
            {
                return BatchCloseReason.Deadline;
            }

            var wakeAt = deadline;
            if (worker.Rows >= earlyRows)
            {
                if (now >= earlyAt)
                {
                    return BatchCloseReason.EarlyTrigger;
                }

                wakeAt = earlyAt;
            }

            await ParkAsync(worker, _timeProvider.GetElapsedTime(now, wakeAt)).ConfigureAwait(false);
        }

        return BatchCloseReason.Full;
    }

    private bool HoldsEndOfLargeRequest(Worker worker)
    {
        var threshold = _options.CloseAtOnceRequestRows;
        if (threshold <= 0)
        {
            return false;
        }

        for (var i = 0; i < worker.SliceCount; i++)
        {
            if (worker.Slices[i].EndsRequest && worker.Slices[i].Request.Rows.Length >= threshold)
            {
                return true;
            }
        }

        return false;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ParkAsync(Worker worker, TimeSpan timeout)
    {
        var wakeup = worker.Wakeup;
        wakeup.Arm();
        if (!_queue.IsEmpty || Volatile.Read(ref _stopping))
        {
            if (wakeup.TryDisarm())
            {
                return;
            }

            // A producer signalled in between: consume that (already completed) signal.
            await wakeup.WaitAsync(Timeout.InfiniteTimeSpan).ConfigureAwait(false);
            return;
        }

        Interlocked.Increment(ref _parkedWorkers);
        try
        {
            await wakeup.WaitAsync(timeout).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _parkedWorkers);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ScoreBatchAsync(Worker worker, BatchCloseReason reason)
    {
        var width = _options.FeatureWidth;
        var sealedAt = _timeProvider.GetTimestamp();
        var rows = 0;
        var kept = 0;
        for (var i = 0; i < worker.SliceCount; i++)
        {
            var slice = worker.Slices[i];
            var request = slice.Request;
            if (request.IsAbandoned)
            {
                // Cancelled while waiting in this batch: its rows are left out.
                ReleaseIfLast(slice);
                continue;
            }

            try
            {
                _assembler(request.Rows.Span.Slice(slice.Offset, slice.Count), worker.Features.AsSpan(rows * width, slice.Count * width));
            }
            catch (Exception exception)
            {
                BatchingLog.AssemblerFailed(_logger, _options.Name, exception);
                request.TryFail(new BatchScoringException($"Assembling the features of this request failed in batcher '{_options.Name}'.", exception));
                ReleaseIfLast(slice);
                continue;
            }

            if (slice.Offset == 0)
            {
                _metrics.QueueWait(_timeProvider.GetElapsedTime(request.EnqueuedAt, sealedAt));
            }

            slice.BatchRow = rows;
            worker.Slices[kept++] = slice;
            rows += slice.Count;
        }

        for (var i = kept; i < worker.SliceCount; i++)
        {
            worker.Slices[i] = default;
        }

        worker.SliceCount = kept;
        if (rows == 0)
        {
            return;
        }

        var padded = _options.PadToPowerOfTwo ? (int)BitOperations.RoundUpToPowerOf2((uint)rows) : rows;
        // Padding rows are zeros, never stale features of an earlier batch.
        worker.Features.AsSpan(rows * width, (padded - rows) * width).Clear();
        _metrics.BatchClosed(rows, padded - rows, reason);

        try
        {
            await _scorer(worker.Features.AsMemory(0, padded * width), padded, width, worker.Scores.AsMemory(0, padded), _shutdown.Token).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            BatchingLog.ScorerFailed(_logger, _options.Name, rows, kept, exception);
            for (var i = 0; i < kept; i++)
            {
                worker.Slices[i].Request.TryFail(new BatchScoringException($"Scoring the batch holding this request failed in batcher '{_options.Name}'.", exception));
            }

            ReleaseSlices(worker);
            return;
        }

        var completedAt = _timeProvider.GetTimestamp();
        var completedCount = 0;
        for (var i = 0; i < kept; i++)
        {
            var slice = worker.Slices[i];
            if (slice.Request.TryDeliver(slice.Offset, worker.Scores.AsSpan(slice.BatchRow, slice.Count), out var completed) && completed)
            {
                var latency = _timeProvider.GetElapsedTime(slice.Request.EnqueuedAt, completedAt);
                _metrics.RequestCompleted(latency);
                worker.Latencies[completedCount++] = latency.Ticks;
            }
        }

        var service = _timeProvider.GetElapsedTime(sealedAt, completedAt).Ticks;
        // A rough moving average is enough for a retry hint; concurrent workers may overwrite each other.
        Volatile.Write(ref _batchServiceTicks, (Volatile.Read(ref _batchServiceTicks) * 7 + service) / 8);
        ReleaseSlices(worker);

        if (_limits.Observe(worker.Latencies.AsSpan(0, completedCount), reason == BatchCloseReason.Full) is { } change)
        {
            BatchingLog.LimitsAdapted(_logger, _options.Name, change.P99.TotalMilliseconds, _options.TargetP99.TotalMilliseconds,
                change.Previous.MaxBatchRows, change.Current.MaxBatchRows, change.Previous.MaxWait.TotalMilliseconds, change.Current.MaxWait.TotalMilliseconds);
        }
    }

    private static void ReleaseSlices(Worker worker)
    {
        for (var i = 0; i < worker.SliceCount; i++)
        {
            ReleaseIfLast(worker.Slices[i]);
            worker.Slices[i] = default;
        }

        worker.SliceCount = 0;
    }

    private static void ReleaseIfLast(Slice slice)
    {
        if (slice.EndsRequest)
        {
            slice.Request.ReleaseFromBatcher();
        }
    }

    private long ToTimestampTicks(TimeSpan span) => (long)(span.Ticks * ((double)_timeProvider.TimestampFrequency / TimeSpan.TicksPerSecond));
}
