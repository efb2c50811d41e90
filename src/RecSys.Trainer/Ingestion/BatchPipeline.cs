using System.Diagnostics;
using System.Threading.Channels;
using RecSys.Trainer.Commands;

namespace RecSys.Trainer.Ingestion;

/// <summary>
/// Cuts a stream of records into batches on one thread (the generator or parser runs there) and hands them to
/// <c>consumers</c> concurrent handlers through a bounded channel, so producing and sending overlap and memory stays
/// bounded by a few batches.
/// </summary>
public static class BatchPipeline
{
    public const int MaxReasons = 5;

    public static async Task<SendResult> RunAsync<T>(
        string phaseName,
        IEnumerable<T> source,
        int batchSize,
        int consumers,
        Func<IReadOnlyList<T>, CancellationToken, Task<BatchOutcome>> handle,
        OnErrorMode onError,
        IProgressPhase progress,
        CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(consumers, 1);
        var started = Stopwatch.GetTimestamp();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var channel = Channel.CreateBounded<List<T>>(new BoundedChannelOptions(consumers * 2)
        {
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });

        long accepted = 0, rejected = 0;
        var reasons = new List<string>();
        var stopped = false;

        var producer = Task.Run(
            async () =>
            {
                try
                {
                    var batch = new List<T>(batchSize);
                    foreach (var record in source)
                    {
                        batch.Add(record);
                        if (batch.Count == batchSize)
                        {
                            await channel.Writer.WriteAsync(batch, stop.Token);
                            batch = new List<T>(batchSize);
                        }
                    }

                    if (batch.Count > 0)
                    {
                        await channel.Writer.WriteAsync(batch, stop.Token);
                    }

                    channel.Writer.TryComplete();
                }
                catch (Exception ex)
                {
                    channel.Writer.TryComplete(ex);
                    throw;
                }
            },
            stop.Token);

        var workers = Enumerable.Range(0, consumers).Select(_ => Task.Run(
            async () =>
            {
                try
                {
                    await ConsumeAsync();
                }
                catch
                {
                    await stop.CancelAsync();
                    throw;
                }
            },
            stop.Token)).ToArray();

        async Task ConsumeAsync()
        {
            await foreach (var batch in channel.Reader.ReadAllAsync(stop.Token))
            {
                var outcome = await handle(batch, stop.Token);
                Interlocked.Add(ref accepted, outcome.Accepted);
                Interlocked.Add(ref rejected, outcome.Rejected);
                progress.Advance(batch.Count);
                if (outcome.Rejected > 0)
                {
                    lock (reasons)
                    {
                        foreach (var error in outcome.Errors)
                        {
                            if (reasons.Count < MaxReasons)
                            {
                                reasons.Add(error);
                            }
                        }

                        if (onError == OnErrorMode.Stop)
                        {
                            stopped = true;
                        }
                    }

                    if (onError == OnErrorMode.Stop)
                    {
                        await stop.CancelAsync();
                        return;
                    }
                }
            }
        }

        try
        {
            await Task.WhenAll(workers);
            await producer;
        }
        catch (OperationCanceledException) when (stopped && !cancellationToken.IsCancellationRequested)
        {
            // The run was stopped on purpose after a refused batch; the result says so.
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            // Surface the first real failure (a parse error, an unreachable target), not a cancellation it caused.
            await stop.CancelAsync();
            var failure = workers.Append(producer)
                .Where(t => t.IsFaulted)
                .Select(t => t.Exception!.InnerException!)
                .FirstOrDefault(e => e is not OperationCanceledException);
            if (failure is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
            }

            throw;
        }

        progress.Complete();
        return new SendResult(phaseName, accepted, rejected, reasons, Stopwatch.GetElapsedTime(started), stopped);
    }
}
