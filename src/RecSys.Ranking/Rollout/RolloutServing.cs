using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using RecSys.Batching;
using RecSys.Ranking.Features;
using RecSys.Ranking.Serving;
using RecSys.Rollout;

namespace RecSys.Ranking.Rollout;

/// <summary>Settings of the rollout's serving side (section <c>Ranking:Rollout</c>, next to the engine's <see cref="RolloutOptions"/>).</summary>
public sealed class RolloutServingOptions
{
    public const string SectionName = "Ranking:Rollout";

    /// <summary>Shadow scorings running at once; a request beyond it is not shadow-scored (counted as dropped).</summary>
    [System.ComponentModel.DataAnnotations.Range(0, 1024)]
    public int MaxShadowInFlight { get; set; } = 4;
}

[OptionsValidator]
public sealed partial class RolloutServingOptionsValidator : IValidateOptions<RolloutServingOptions>;

/// <summary>
/// The rollout on the request path: routes each request by its sticky bucket to production or the candidate, ranks with
/// that release, records latency, failures and served scores per version, and in shadow scores the request with the
/// candidate in the background (bounded; dropped when busy; never awaited by the response). A candidate that fails or
/// is not loaded does not fail the request: production answers and the failure counts against the candidate.
/// </summary>
public sealed class RolloutServing : IDisposable
{
    private readonly TwoStageRanker _ranker;
    private readonly RankingRollout _rollout;
    private readonly TimeProvider _time;
    private readonly ILogger<RolloutServing> _logger;
    private readonly SemaphoreSlim _shadowSlots;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Meter _meter;
    private readonly Counter<long> _routed;
    private readonly Counter<long> _shadowDropped;
    private readonly Histogram<double> _latency;
    private int _shadowRunning;
    private TaskCompletionSource _shadowIdle = NewIdle(completed: true);

    public RolloutServing(TwoStageRanker ranker, RankingRollout rollout, IOptions<RolloutServingOptions> options, TimeProvider time,
        ILogger<RolloutServing> logger, IMeterFactory? meters = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _ranker = ranker;
        _rollout = rollout;
        _time = time;
        _logger = logger;
        _shadowSlots = new SemaphoreSlim(options.Value.MaxShadowInFlight, Math.Max(1, options.Value.MaxShadowInFlight));
        _meter = meters?.Create("RecSys.Ranking.Rollout") ?? new Meter("RecSys.Ranking.Rollout");
        _routed = _meter.CreateCounter<long>("recsys.ranking.rollout.requests", description: "Ranked requests per release version and route (production, candidate, shadow, fallback)");
        _shadowDropped = _meter.CreateCounter<long>("recsys.ranking.rollout.shadow_dropped", description: "Requests not shadow-scored because every shadow slot was busy");
        _latency = _meter.CreateHistogram<double>("recsys.ranking.rollout.latency", "ms", "Ranking time per release version during a rollout",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] });
    }

    /// <summary>
    /// Ranks with the version the rollout routes <paramref name="query"/>'s user to (the served release when no rollout
    /// runs). Null when no release is loaded. Exceptions of the production release propagate, as without a rollout.
    /// </summary>
    public async Task<TwoStageResult?> RankAsync(RankingQuery query, RankingCandidate[] candidates, int count, string requestId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (_rollout.Engine is not { } engine)
        {
            return await _ranker.RankAsync(query, candidates, count, cancellationToken).ConfigureAwait(false);
        }

        var decision = engine.Route(query.UserId);
        if (decision.Reason == RouteReason.NoRollout || decision.Version is not { } version)
        {
            return await _ranker.RankAsync(query, candidates, count, cancellationToken).ConfigureAwait(false);
        }

        var recorder = engine.Recorder;
        var start = _time.GetTimestamp();
        TwoStageResult? result;
        try
        {
            result = await _ranker.RankAsync(query, candidates, count, version, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (decision.ServesCandidate && ex is not BatchQueueFullException && !cancellationToken.IsCancellationRequested)
        {
            recorder.RecordRequest(version, _time.GetElapsedTime(start), failed: true);
            _routed.Add(1, Tags(version, "candidate_failed"));
            RankingRolloutLog.CandidateFailed(_logger, version, ex.Message);
            return await ProductionFallbackAsync(query, candidates, count, decision, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not BatchQueueFullException && !cancellationToken.IsCancellationRequested)
        {
            recorder.RecordRequest(version, _time.GetElapsedTime(start), failed: true);
            throw;
        }

        if (result is null)
        {
            if (!decision.ServesCandidate)
            {
                // Production is not the loaded release (the registry moved on under the rollout): serve what is loaded.
                return await _ranker.RankAsync(query, candidates, count, cancellationToken).ConfigureAwait(false) is { } served
                    ? served with { Routing = decision.Describe() + "; production not loaded, served " + served.Models.Release }
                    : null;
            }

            recorder.RecordRequest(version, _time.GetElapsedTime(start), failed: true);
            _routed.Add(1, Tags(version, "candidate_failed"));
            return await ProductionFallbackAsync(query, candidates, count, decision, cancellationToken).ConfigureAwait(false);
        }

        var elapsed = _time.GetElapsedTime(start);
        recorder.RecordRequest(version, elapsed, failed: false);
        _latency.Record(elapsed.TotalMilliseconds, new KeyValuePair<string, object?>("recsys.release", version));
        _routed.Add(1, Tags(version, decision.ServesCandidate ? "candidate" : "production"));
        var shadowed = decision.ShadowVersion is { } shadow && TryShadow(query, candidates, count, requestId, shadow, recorder);
        if (decision.ShadowVersion is null || shadowed)
        {
            // In shadow, production's scores are kept only for requests the candidate also scores, so the KS samples match.
            RecordScores(recorder, version, requestId, result);
        }

        return result with { Routing = decision.Describe() };
    }

    /// <summary>Completes when no shadow scoring runs (tests and shutdown).</summary>
    public Task WhenShadowIdleAsync() => Volatile.Read(ref _shadowIdle).Task;

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
        _shadowSlots.Dispose();
        _meter.Dispose();
    }

    private async Task<TwoStageResult?> ProductionFallbackAsync(RankingQuery query, RankingCandidate[] candidates, int count, RoutingDecision decision, CancellationToken cancellationToken) =>
        await _ranker.RankAsync(query, candidates, count, cancellationToken).ConfigureAwait(false) is { } result
            ? result with { Routing = decision.Describe() + "; the candidate failed, production answered" }
            : null;

    private bool TryShadow(RankingQuery query, RankingCandidate[] candidates, int count, string requestId, string version, RolloutRecorder recorder)
    {
        if (!_shadowSlots.Wait(0))
        {
            _shadowDropped.Add(1);
            return false;
        }

        if (Interlocked.Increment(ref _shadowRunning) == 1)
        {
            Volatile.Write(ref _shadowIdle, NewIdle(completed: false));
        }

        // Off the request: the response never waits for the shadow, and the request's cancellation does not end it.
        _ = Task.Run(async () =>
        {
            var start = _time.GetTimestamp();
            try
            {
                var result = await _ranker.RankAsync(query, candidates, count, version, _stopping.Token).ConfigureAwait(false);
                recorder.RecordRequest(version, _time.GetElapsedTime(start), failed: result is null);
                if (result is not null)
                {
                    RecordScores(recorder, version, requestId, result);
                    _routed.Add(1, Tags(version, "shadow"));
                }
            }
            catch (Exception ex) when (!_stopping.IsCancellationRequested)
            {
                recorder.RecordRequest(version, _time.GetElapsedTime(start), failed: true);
                RankingRolloutLog.ShadowFailed(_logger, version, ex.Message);
            }
            catch (OperationCanceledException)
            {
                // Shutting down.
            }
            finally
            {
                try
                {
                    _shadowSlots.Release();
                }
                catch (ObjectDisposedException)
                {
                    // Disposed while the shadow ran (shutdown).
                }

                if (Interlocked.Decrement(ref _shadowRunning) == 0)
                {
                    Volatile.Read(ref _shadowIdle).TrySetResult();
                }
            }
        });
        return true;
    }

    private static void RecordScores(RolloutRecorder recorder, string version, string requestId, TwoStageResult result)
    {
        var n = result.Items.Count;
        var scores = ArrayPool<float>.Shared.Rent(Math.Max(1, n));
        try
        {
            for (var i = 0; i < n; i++)
            {
                scores[i] = result.Items[i].Score;
            }

            recorder.RecordScores(version, requestId, scores.AsSpan(0, n));
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scores);
        }
    }

    private static TagList Tags(string version, string route) => new() { { "recsys.release", version }, { "recsys.route", route } };

    private static TaskCompletionSource NewIdle(bool completed)
    {
        var idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (completed)
        {
            idle.SetResult();
        }

        return idle;
    }
}
