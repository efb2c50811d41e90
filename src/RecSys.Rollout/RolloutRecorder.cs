using System.Collections.Concurrent;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using RecSys.Rollout.Statistics;

namespace RecSys.Rollout;

/// <summary>
/// Collects per-version serving metrics for the gates: latency and failures per request, scores, and impressions joined
/// with later clicks by request id. The serving path calls it for every request; calls for versions outside the running
/// rollout's window are ignored, so the host can call it unconditionally. Thread-safe.
/// </summary>
public sealed class RolloutRecorder
{
    private readonly RolloutOptions _options;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, ClickJoin> _awaitingClicks = new(StringComparer.Ordinal);
    private volatile MetricsWindow? _window;

    // ConcurrentDictionary.Count takes every bucket lock (up to 1024); the serving path reads this counter instead.
    private int _awaitingCount;

    internal RolloutRecorder(RolloutOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
    }

    internal MetricsWindow? Window => _window;

    /// <summary>One request handled by <paramref name="version"/> (in shadow: one background scoring), how long it took and whether it failed.</summary>
    public void RecordRequest(string version, TimeSpan latency, bool failed)
    {
        var arm = _window?.ArmOf(version);
        if (arm is null)
        {
            return;
        }

        Interlocked.Increment(ref arm.Requests);
        if (failed)
        {
            Interlocked.Increment(ref arm.Errors);
        }
        else
        {
            arm.Latency.Record(latency);
        }
    }

    /// <summary>The scores <paramref name="version"/> gave the candidates of a request, in candidate order.</summary>
    public void RecordScores(string version, string requestId, ReadOnlySpan<float> scores)
    {
        ArgumentNullException.ThrowIfNull(requestId);
        var arm = _window?.ArmOf(version);
        if (arm is null || scores.IsEmpty)
        {
            return;
        }

        var requestKey = KeyOf(requestId);
        var invalid = 0;
        var firstInvalid = float.NaN;
        for (var i = 0; i < scores.Length; i++)
        {
            var score = scores[i];
            if (!IsValid(score))
            {
                if (invalid++ == 0)
                {
                    firstInvalid = score;
                }
            }
        }

        // One score per request enters the KS sample: the scores of one list are correlated (one user, items that recur
        // across lists), so treating them as independent draws made the test alarm far above its stated rate (7 of 100
        // rollouts of an equally good model in the pipeline simulation). The position is a hash of the request, the same
        // for both versions, so a model that scores like production still yields the same sample.
        var pick = (int)(Mix(requestKey) % (ulong)scores.Length);
        if (IsValid(scores[pick]))
        {
            arm.Scores.Offer(Mix(requestKey ^ 0x5EED), scores[pick]);
        }

        Interlocked.Add(ref arm.ScoresSeen, scores.Length);
        if (invalid > 0)
        {
            Interlocked.Add(ref arm.InvalidScores, invalid);
            Interlocked.CompareExchange(ref arm.FirstInvalidScore, new StrongBox<float>(firstInvalid), null);
        }
    }

    private bool IsValid(float score) => float.IsFinite(score) && score >= _options.MinScore && score <= _options.MaxScore;

    /// <summary><paramref name="shown"/> items of request <paramref name="requestId"/>, served by <paramref name="version"/>, were shown to the user.</summary>
    public void RecordImpressions(string version, string requestId, int shown)
    {
        ArgumentNullException.ThrowIfNull(requestId);
        ArgumentOutOfRangeException.ThrowIfNegative(shown);
        var arm = _window?.ArmOf(version);
        if (arm is null || shown == 0)
        {
            return;
        }

        if (Volatile.Read(ref _awaitingCount) >= _options.MaxTrackedRequests)
        {
            // A request whose clicks cannot be joined would bias the CTR down: leave it out and count it.
            Interlocked.Increment(ref arm.UntrackedRequests);
            return;
        }

        if (_awaitingClicks.TryAdd(requestId, new ClickJoin(arm, shown, _time.GetTimestamp())))
        {
            Interlocked.Increment(ref _awaitingCount);
            arm.Ctr.AddRequest(shown);
        }
    }

    /// <summary>A click on one of the items shown for <paramref name="requestId"/>; unknown or expired requests are ignored.</summary>
    public void RecordClick(string requestId)
    {
        ArgumentNullException.ThrowIfNull(requestId);
        if (!_awaitingClicks.TryGetValue(requestId, out var join))
        {
            return;
        }

        int before;
        lock (join)
        {
            if (join.Clicks >= join.Shown)
            {
                return; // More clicks than items shown: a duplicate event.
            }

            before = join.Clicks++;
        }

        join.Arm.Ctr.AddClick(join.Shown, before);
    }

    /// <summary>Starts a new window for a stage; metrics of the previous window are dropped.</summary>
    internal void BeginWindow(string productionVersion, string candidateVersion, RolloutStage stage, DateTimeOffset startedAt) =>
        _window = new MetricsWindow(productionVersion, candidateVersion, stage, startedAt, _options.ScoreSampleSize);

    internal void EndWindow()
    {
        _window = null;
        _awaitingClicks.Clear();
        Volatile.Write(ref _awaitingCount, 0);
    }

    /// <summary>Forgets requests whose click attribution window is over.</summary>
    internal void Sweep()
    {
        var now = _time.GetTimestamp();
        foreach (var (requestId, join) in _awaitingClicks)
        {
            if (_time.GetElapsedTime(join.RecordedAt, now) > _options.ClickAttributionWindow)
            {
                if (_awaitingClicks.TryRemove(new KeyValuePair<string, ClickJoin>(requestId, join)))
                {
                    Interlocked.Decrement(ref _awaitingCount);
                }
            }
        }
    }

    internal int AwaitingClicks => Volatile.Read(ref _awaitingCount);

    private static ulong KeyOf(string requestId)
    {
        var bytes = MemoryMarshal.AsBytes(requestId.AsSpan());
        return XxHash64.HashToUInt64(bytes);
    }

    // SplitMix64 finalizer: spreads consecutive inputs (one per candidate) into independent-looking keys.
    private static ulong Mix(ulong x)
    {
        x ^= x >> 30;
        x *= 0xbf58476d1ce4e5b9UL;
        x ^= x >> 27;
        x *= 0x94d049bb133111ebUL;
        return x ^ (x >> 31);
    }

    private sealed class ClickJoin(ArmMetrics arm, int shown, long recordedAt)
    {
        public ArmMetrics Arm { get; } = arm;
        public int Shown { get; } = shown;
        public long RecordedAt { get; } = recordedAt;
        public int Clicks { get; set; }
    }
}

/// <summary>Box for a value published once with CompareExchange.</summary>
internal sealed class StrongBox<T>(T value)
{
    public T Value { get; } = value;
}

/// <summary>Metrics of both versions over one stage's window.</summary>
internal sealed class MetricsWindow(string productionVersion, string candidateVersion, RolloutStage stage, DateTimeOffset startedAt, int scoreSampleSize)
{
    public RolloutStage Stage { get; } = stage;
    public DateTimeOffset StartedAt { get; } = startedAt;
    public ArmMetrics Production { get; } = new(productionVersion, scoreSampleSize);
    public ArmMetrics Candidate { get; } = new(candidateVersion, scoreSampleSize);

    public ArmMetrics? ArmOf(string version) =>
        string.Equals(version, Candidate.Version, StringComparison.Ordinal) ? Candidate
        : string.Equals(version, Production.Version, StringComparison.Ordinal) ? Production
        : null;
}

/// <summary>One version's counters; fields are updated with Interlocked on the serving path.</summary>
internal sealed class ArmMetrics(string version, int scoreSampleSize)
{
    public string Version { get; } = version;
    public LatencyHistogram Latency { get; } = new();
    public BottomKSample Scores { get; } = new(scoreSampleSize);
    public RatioAccumulator Ctr { get; } = new();
#pragma warning disable CA1051 // Interlocked needs fields.
    public long Requests;
    public long Errors;
    public long ScoresSeen;
    public long InvalidScores;
    public long UntrackedRequests;
    public StrongBox<float>? FirstInvalidScore;
#pragma warning restore CA1051

    public VersionMetrics Snapshot(double quantile)
    {
        var ctr = Ctr.Estimate();
        var latencies = Latency.Count;
        double? QuantileMs(double q) => latencies == 0 ? null : Latency.ValueAtRank(Math.Max(1, (long)Math.Ceiling(q * latencies)), BucketEdge.Middle) / 1000;
        var requests = Interlocked.Read(ref Requests);
        var errors = Interlocked.Read(ref Errors);
        return new VersionMetrics(
            Version,
            requests,
            errors,
            requests == 0 ? 0 : (double)errors / requests,
            QuantileMs(0.5),
            QuantileMs(quantile),
            ctr.Denominator,
            ctr.Numerator,
            ctr.Denominator == 0 ? null : ctr.Ratio,
            Interlocked.Read(ref ScoresSeen),
            Interlocked.Read(ref InvalidScores),
            Scores.Count,
            Interlocked.Read(ref UntrackedRequests));
    }
}

/// <summary>One version's metrics over the current window, for status and the dashboard.</summary>
public sealed record VersionMetrics(
    string Version,
    long Requests,
    long Errors,
    double ErrorRate,
    double? LatencyP50Ms,
    double? LatencyTailMs,
    long Impressions,
    long Clicks,
    double? Ctr,
    long ScoresSeen,
    long InvalidScores,
    int ScoreSampleSize,
    long UntrackedRequests);
