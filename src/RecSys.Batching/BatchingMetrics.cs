using System.Diagnostics.Metrics;

namespace RecSys.Batching;

/// <summary>The batcher's instruments on the <c>RecSys.Batching</c> meter; durations in seconds, sizes in rows.</summary>
internal sealed class BatchingMetrics : IDisposable
{
    public const string MeterName = "RecSys.Batching";
    public const string NameTag = "recsys.batching.name";
    public const string CloseReasonTag = "recsys.batching.close_reason";

    private static readonly string[] CloseReasonNames = ["full", "deadline", "early_trigger", "drain", "large_request"];

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly KeyValuePair<string, object?> _nameTag;
    private readonly Histogram<int> _batchSize;
    private readonly Histogram<int> _paddedRows;
    private readonly Histogram<double> _queueWait;
    private readonly Histogram<double> _requestDuration;
    private readonly Counter<long> _rejections;

    public BatchingMetrics(string name, IMeterFactory? meterFactory, Func<int> queuedRows, Func<BatchingLimits> limits)
    {
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _nameTag = new KeyValuePair<string, object?>(NameTag, name);
        int[] rowBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];
        double[] secondBuckets = [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 1];

        _batchSize = _meter.CreateHistogram("recsys.batching.batch.size", "{row}", "Rows scored per batch, padding excluded",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = rowBuckets });
        _paddedRows = _meter.CreateHistogram("recsys.batching.batch.padding", "{row}", "Padding rows added to reach a power of two",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = rowBuckets });
        _queueWait = _meter.CreateHistogram("recsys.batching.queue.wait", "s", "Time from a request's arrival to the sealing of its first batch",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = secondBuckets });
        _requestDuration = _meter.CreateHistogram("recsys.batching.request.duration", "s", "Time from a request's arrival to its last score",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = secondBuckets });
        _rejections = _meter.CreateCounter<long>("recsys.batching.rejections", "{request}", "Requests rejected because the queue was full");
        var nameTag = _nameTag;
        _meter.CreateObservableUpDownCounter("recsys.batching.queue.depth", () => new Measurement<int>(queuedRows(), nameTag), "{row}", "Rows waiting in the queue");
        _meter.CreateObservableGauge("recsys.batching.limit.max_batch_size", () => new Measurement<int>(limits().MaxBatchRows, nameTag), "{row}", "Current (adapted) maximum batch size");
        _meter.CreateObservableGauge("recsys.batching.limit.max_wait", () => new Measurement<double>(limits().MaxWait.TotalSeconds, nameTag), "s", "Current (adapted) maximum wait");
    }

    public void BatchClosed(int rows, int padding, BatchCloseReason reason)
    {
        var reasonTag = new KeyValuePair<string, object?>(CloseReasonTag, CloseReasonNames[(int)reason]);
        _batchSize.Record(rows, _nameTag, reasonTag);
        if (_paddedRows.Enabled)
        {
            _paddedRows.Record(padding, _nameTag);
        }
    }

    public void QueueWait(TimeSpan wait) => _queueWait.Record(wait.TotalSeconds, _nameTag);

    public void RequestCompleted(TimeSpan duration) => _requestDuration.Record(duration.TotalSeconds, _nameTag);

    public void Rejected() => _rejections.Add(1, _nameTag);

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
