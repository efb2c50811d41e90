using System.Diagnostics;
using Microsoft.Extensions.Options;
using RecSys.Batching;
using RecSys.Core.Contracts;
using RecSys.Ranking.Features;
using RecSys.Ranking.Feedback;
using RecSys.Ranking.Models;
using RecSys.Ranking.Rollout;
using RecSys.Ranking.Serving;

namespace RecSys.Ranking.Services;

/// <summary>
/// The serving path of <c>/v1/recommendations</c>: candidates from Retrieval (or the trending fallback), the learned two
/// stages (or the fused score when no release is served or the models fail), top-k. Every stage is timed and reported in
/// the response metadata and in metrics. A full main-stage queue is not handled here: the API answers 429.
/// </summary>
public sealed partial class RecommendationService(
    RetrievalClient retrieval,
    TrendingFallback fallback,
    IRanker fusedRanker,
    RolloutServing rollout,
    ImpressionLogger impressions,
    RankingTelemetry telemetry,
    CandidateBudget candidateBudget,
    IOptions<RankingOptions> options,
    IOptions<FallbackOptions> fallbackOptions,
    TimeProvider time,
    ILogger<RecommendationService> logger)
{
    public const string DegradedRetrieval = "retrieval";
    public const string DegradedModel = "model";

    /// <summary>Neither Retrieval nor the store's trending list answered: the in-process last-known popular list did.</summary>
    public const string DegradedLastKnown = "last-known-popular";

    /// <summary>Latency was over its target, so this request asked for fewer candidates than the full budget (<see cref="CandidateBudget"/>).</summary>
    public const string DegradedCandidates = "candidates-reduced";

    public async Task<RecommendationResponse> RecommendAsync(string userId, int count, string? context, CancellationToken cancellationToken)
    {
        using var activity = RankingTelemetry.ActivitySource.StartActivity("recommend");
        activity?.SetTag("recsys.user", userId);
        // Trace and span: one trace may hold several requests (a page asking twice), and impressions are joined per request.
        var requestId = Activity.Current is { } current ? $"{current.TraceId}-{current.SpanId}" : Guid.NewGuid().ToString("N");
        var o = options.Value;
        var stages = new Dictionary<string, double>(StringComparer.Ordinal);
        var degraded = new List<string>();
        var start = time.GetTimestamp();

        // As the ranker takes them: decoded once into RankingCandidates, not copied per request.
        RankingCandidate[] candidates;
        double? indexCoverage = null;
        var stageStart = time.GetTimestamp();
        var asked = candidateBudget.Current;
        if (asked < candidateBudget.Full)
        {
            degraded.Add(DegradedCandidates);
        }

        try
        {
            // The client's resilience pipeline also ends at RetrievalTimeout; this bound covers a pipeline configured otherwise.
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(o.RetrievalTimeout);
            var response = await retrieval.GetRankingCandidatesAsync(
                new CandidateRequest(userId, context, Math.Max(asked, count), null), timeout.Token);
            candidates = response.Candidates;
            degraded.AddRange(response.Degraded);
            indexCoverage = response.IndexCoverage;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Any failure of candidate generation (HTTP error, timeout, an open circuit of the resilience pipeline)
            // degrades to trending; only the caller giving up ends the request.
            LogRetrievalFailed(logger, userId, ex.Message);
            candidates = [];
        }

        var fromLastKnown = false;
        if (candidates.Length == 0)
        {
            // Failed, or answered empty because every source failed (the store is away): never answer an empty list.
            degraded.Add(DegradedRetrieval);
            var fell = await fallback.GetAsync(userId, Math.Max(o.CandidateCount, count), cancellationToken);
            candidates = RetrievedCandidates.From(fell.Candidates);
            fromLastKnown = fell.LastKnown;
            if (fromLastKnown)
            {
                degraded.Add(DegradedLastKnown);
            }
        }

        stages["retrieval"] = time.GetElapsedTime(stageStart).TotalMilliseconds;

        stageStart = time.GetTimestamp();
        // The last-known list means the store is away: the models' features live there, so the fused score ranks at once.
        var learned = fromLastKnown ? null : await RankWithModelsAsync(userId, context, candidates, count, requestId, degraded, cancellationToken);
        if (fromLastKnown)
        {
            degraded.Add(DegradedModel);
        }

        RankedItem[] items;
        string rankerVersion;
        IReadOnlyDictionary<string, string>? models = null;
        if (learned is not null)
        {
            items = new RankedItem[learned.Items.Count];
            for (var i = 0; i < items.Length; i++)
            {
                var c = candidates[learned.Items[i].Index];
                items[i] = new RankedItem(c.ItemId, learned.Items[i].Score, c.Sources);
            }

            rankerVersion = learned.Models.Release;
            var described = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["release"] = learned.Models.Release,
                [ModelKinds.PreRanker] = learned.Models.PreRankerVersion,
                [learned.Models.MainStage] = learned.Models.MainVersion,
                ["provider"] = learned.Models.Provider,
                ["scoreCacheHits"] = learned.CacheHits.ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            if (learned.Routing is { } routing)
            {
                described["rollout"] = routing;
            }

            foreach (var report in learned.PostProcessing)
            {
                // What each post-processing stage did to this response.
                described["post." + report.Stage] = $"removed {report.Removed}, changed {report.Changed}, pinned {report.Pinned}{(report.Note is null ? "" : "; " + report.Note)}";
            }

            models = described;
            stages[TwoStageRanker.StageFeatureFetch] = learned.FeatureFetch.TotalMilliseconds;
            stages[TwoStageRanker.StagePreRank] = learned.PreRank.TotalMilliseconds;
            stages[TwoStageRanker.StageMainRank] = learned.MainRank.TotalMilliseconds;
            stages[TwoStageRanker.StagePostProcess] = learned.PostProcess.TotalMilliseconds;
        }
        else
        {
            var scores = await fusedRanker.ScoreAsync(userId, FusedInput(candidates), cancellationToken);
            var order = TopK(scores, count);
            items = new RankedItem[order.Length];
            for (var i = 0; i < order.Length; i++)
            {
                var c = candidates[order[i]];
                items[i] = new RankedItem(c.ItemId, scores[order[i]], c.Sources);
            }

            rankerVersion = fusedRanker.Version;
        }

        stages["ranking"] = time.GetElapsedTime(stageStart).TotalMilliseconds;
        var total = time.GetElapsedTime(start);
        stages["total"] = total.TotalMilliseconds;

        telemetry.RecordRequest(total, items.Length, degraded.Count > 0);
        candidateBudget.Record(total);
        impressions.Log(userId, requestId, rankerVersion, items);
        return new RecommendationResponse(
            userId,
            items,
            new RecommendationMetadata(requestId, rankerVersion, degraded, stages, candidates.Length) { Models = models, IndexCoverage = indexCoverage });
    }

    /// <summary>The learned ranking, or null (and <see cref="DegradedModel"/>) when no release serves or it failed.</summary>
    private async Task<TwoStageResult?> RankWithModelsAsync(
        string userId, string? context, RankingCandidate[] candidates, int count, string requestId, List<string> degraded, CancellationToken cancellationToken)
    {
        try
        {
            // Bounded: the stages read features from the store, and a hung store would hold the request for the client's timeout.
            var result = await rollout.RankAsync(new RankingQuery(userId, context, time.GetUtcNow()), candidates, count, requestId, cancellationToken)
                .WaitAsync(fallbackOptions.Value.ModelStageTimeout, time, cancellationToken);
            if (result is null)
            {
                degraded.Add(DegradedModel);
            }

            return result;
        }
        catch (BatchQueueFullException)
        {
            telemetry.RecordQueueFull();
            throw;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // A feature provider or session failure must not fail the request: the fused score still ranks.
            LogModelsFailed(logger, userId, ex.Message);
            degraded.Add(DegradedModel);
            return null;
        }
    }

    /// <summary>The fused ranker's view of the candidates (it reads their fused scores).</summary>
    private static CandidateDto[] FusedInput(RankingCandidate[] candidates)
    {
        var input = new CandidateDto[candidates.Length];
        for (var i = 0; i < input.Length; i++)
        {
            input[i] = new CandidateDto(candidates[i].ItemId, candidates[i].RetrievalScore, candidates[i].Sources);
        }

        return input;
    }

    /// <summary>Indices of the <paramref name="k"/> best scores, best first; ties keep candidate order (stable).</summary>
    internal static int[] TopK(double[] scores, int k)
    {
        var idx = new int[scores.Length];
        for (var i = 0; i < idx.Length; i++)
        {
            idx[i] = i;
        }

        Array.Sort(idx, (a, b) =>
        {
            var c = scores[b].CompareTo(scores[a]);
            return c != 0 ? c : a.CompareTo(b);
        });
        return idx.Length <= k ? idx : idx[..k];
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Candidate generation failed for user {UserId}; answering from trending: {Reason}")]
    private static partial void LogRetrievalFailed(ILogger logger, string userId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The learned ranker failed for user {UserId}; answering with the fused score: {Reason}")]
    private static partial void LogModelsFailed(ILogger logger, string userId, string reason);
}
