using System.Globalization;
using System.Text;

namespace RecSys.Batching;

/// <summary>
/// Settings of a <see cref="DynamicBatcher{TRow}"/>. Every size counts rows (candidates), not requests:
/// a ranking request with N candidates occupies N rows of a batch.
/// </summary>
public sealed record DynamicBatchingOptions
{
    /// <summary>Name reported as the <c>recsys.batching.name</c> tag of every metric (e.g. "pre-ranker").</summary>
    public string Name { get; init; } = "default";

    /// <summary>Number of floats per row in the feature matrix handed to the scorer.</summary>
    public int FeatureWidth { get; init; }

    /// <summary>Initial maximum rows per batch; adaptation moves it within the adaptive bounds.</summary>
    public int MaxBatchRows { get; init; } = 64;

    /// <summary>Initial longest time the oldest row of a batch waits before the batch closes.</summary>
    public TimeSpan MaxWait { get; init; } = TimeSpan.FromMilliseconds(5);

    /// <summary>Fewest rows a batch needs to close early; at <see cref="MaxWait"/> a batch closes whatever its size.</summary>
    public int MinBatchRows { get; init; } = 8;

    /// <summary>Fraction of <see cref="MaxWait"/> after which a batch that is at least <see cref="EarlyTriggerFill"/> full closes.</summary>
    public double EarlyTriggerWait { get; init; } = 0.8;

    /// <summary>Fraction of the current maximum batch that makes a batch eligible for the early trigger.</summary>
    public double EarlyTriggerFill { get; init; } = 0.5;

    /// <summary>Pads every batch to the next power of two rows (zero features), so a session sees few distinct shapes.</summary>
    public bool PadToPowerOfTwo { get; init; } = true;

    /// <summary>
    /// A batch that holds the last rows of a request of at least this many rows closes as soon as the rows already queued have
    /// joined it, without waiting for more: such a request amortizes a run by itself, and the wait would only delay it.
    /// 0 (the default) turns this off; requests smaller than this wait as before.
    /// </summary>
    public int CloseAtOnceRequestRows { get; init; }

    /// <summary>Rows that may wait in the queue; a request that does not fit is rejected at once.</summary>
    public int QueueCapacityRows { get; init; } = 8192;

    /// <summary>Batch-worker loops; each forms and scores its own batches.</summary>
    public int WorkerCount { get; init; } = 1;

    /// <summary>Moves the maximum batch and wait toward <see cref="TargetP99"/>.</summary>
    public bool AdaptationEnabled { get; init; } = true;

    /// <summary>Target 99th percentile of a request's time in the batcher (queue, wait and scoring).</summary>
    public TimeSpan TargetP99 { get; init; } = TimeSpan.FromMilliseconds(30);

    /// <summary>Factor applied to both limits when the observed p99 is above the target.</summary>
    public double ShrinkFactor { get; init; } = 0.8;

    /// <summary>Factor applied to both limits when the observed p99 is below <see cref="GrowBelow"/> x the target.</summary>
    public double GrowFactor { get; init; } = 1.2;

    /// <summary>Fraction of the target under which the limits grow.</summary>
    public double GrowBelow { get; init; } = 0.7;

    /// <summary>Grow only when a batch of the window closed full: larger limits buy nothing when batches do not fill.</summary>
    public bool GrowOnlyWhenBatchesFill { get; init; } = true;

    public int MinAdaptiveBatchRows { get; init; } = 16;

    public int MaxAdaptiveBatchRows { get; init; } = 128;

    public TimeSpan MinAdaptiveWait { get; init; } = TimeSpan.FromMilliseconds(2);

    public TimeSpan MaxAdaptiveWait { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>Length of the window over which the p99 is measured before the limits move.</summary>
    public TimeSpan AdaptationInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Completed requests a window needs before its p99 is trusted.</summary>
    public int AdaptationMinSamples { get; init; } = 32;

    /// <summary>How long disposal lets the workers drain the queue before the requests left fail.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Throws <see cref="ArgumentException"/> naming every setting out of range.</summary>
    public void Validate()
    {
        var errors = new StringBuilder();
        void Check(bool ok, string message)
        {
            if (!ok)
            {
                errors.Append(CultureInfo.InvariantCulture, $"{Environment.NewLine}  - {message}");
            }
        }

        Check(!string.IsNullOrWhiteSpace(Name), "Name must not be empty");
        Check(CloseAtOnceRequestRows >= 0, $"CloseAtOnceRequestRows must not be negative (was {CloseAtOnceRequestRows})");
        Check(FeatureWidth is >= 1 and <= 1 << 16, $"FeatureWidth must be in 1..65536 (was {FeatureWidth})");
        Check(MinAdaptiveBatchRows >= 1, $"MinAdaptiveBatchRows must be at least 1 (was {MinAdaptiveBatchRows})");
        Check(MaxAdaptiveBatchRows is >= 1 and <= 1 << 16, $"MaxAdaptiveBatchRows must be in 1..65536 (was {MaxAdaptiveBatchRows})");
        Check(MinAdaptiveBatchRows <= MaxAdaptiveBatchRows, $"MinAdaptiveBatchRows ({MinAdaptiveBatchRows}) must not exceed MaxAdaptiveBatchRows ({MaxAdaptiveBatchRows})");
        Check(MaxBatchRows >= MinAdaptiveBatchRows && MaxBatchRows <= MaxAdaptiveBatchRows,
            $"MaxBatchRows ({MaxBatchRows}) must lie within MinAdaptiveBatchRows..MaxAdaptiveBatchRows ({MinAdaptiveBatchRows}..{MaxAdaptiveBatchRows})");
        Check(MinBatchRows >= 1 && MinBatchRows <= MinAdaptiveBatchRows,
            $"MinBatchRows ({MinBatchRows}) must be in 1..MinAdaptiveBatchRows ({MinAdaptiveBatchRows})");
        Check(MinAdaptiveWait > TimeSpan.Zero, $"MinAdaptiveWait must be positive (was {MinAdaptiveWait})");
        Check(MinAdaptiveWait <= MaxAdaptiveWait, $"MinAdaptiveWait ({MinAdaptiveWait}) must not exceed MaxAdaptiveWait ({MaxAdaptiveWait})");
        Check(MaxAdaptiveWait <= TimeSpan.FromSeconds(10), $"MaxAdaptiveWait must be at most 10 s (was {MaxAdaptiveWait})");
        Check(MaxWait >= MinAdaptiveWait && MaxWait <= MaxAdaptiveWait,
            $"MaxWait ({MaxWait}) must lie within MinAdaptiveWait..MaxAdaptiveWait ({MinAdaptiveWait}..{MaxAdaptiveWait})");
        Check(EarlyTriggerWait is > 0 and <= 1, $"EarlyTriggerWait must be in (0, 1] (was {EarlyTriggerWait})");
        Check(EarlyTriggerFill is > 0 and <= 1, $"EarlyTriggerFill must be in (0, 1] (was {EarlyTriggerFill})");
        Check(QueueCapacityRows >= MaxAdaptiveBatchRows, $"QueueCapacityRows ({QueueCapacityRows}) must be at least MaxAdaptiveBatchRows ({MaxAdaptiveBatchRows})");
        Check(WorkerCount is >= 1 and <= 64, $"WorkerCount must be in 1..64 (was {WorkerCount})");
        Check(TargetP99 > TimeSpan.Zero, $"TargetP99 must be positive (was {TargetP99})");
        Check(ShrinkFactor is > 0 and < 1, $"ShrinkFactor must be in (0, 1) (was {ShrinkFactor})");
        Check(GrowFactor is > 1 and <= 4, $"GrowFactor must be in (1, 4] (was {GrowFactor})");
        Check(GrowBelow is > 0 and < 1, $"GrowBelow must be in (0, 1) (was {GrowBelow})");
        Check(AdaptationInterval > TimeSpan.Zero, $"AdaptationInterval must be positive (was {AdaptationInterval})");
        Check(AdaptationMinSamples >= 1, $"AdaptationMinSamples must be at least 1 (was {AdaptationMinSamples})");
        Check(DrainTimeout >= TimeSpan.Zero, $"DrainTimeout must not be negative (was {DrainTimeout})");

        if (errors.Length > 0)
        {
            throw new ArgumentException($"Invalid dynamic batching options '{Name}':{errors}");
        }
    }
}

/// <summary>The limits a batch is formed under; adaptation replaces them as a whole.</summary>
public sealed record BatchingLimits(int MaxBatchRows, TimeSpan MaxWait);
