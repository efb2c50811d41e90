using System.Diagnostics;
using Microsoft.Extensions.Options;
using RecSys.Core.Contracts;

namespace RecSys.Ranking.Services;

/// <summary>
/// The serving path of <c>/v1/recommendations</c>: candidates from Retrieval (or the trending fallback), ranking, top-k.
/// Every stage is timed and reported in the response metadata and in metrics.
/// </summary>
public sealed partial class RecommendationService(
    RetrievalClient retrieval,
    TrendingFallback fallback,
    IRanker ranker,
    RankingTelemetry telemetry,
    IOptions<RankingOptions> options,
    TimeProvider time,
    ILogger<RecommendationService> logger)
{
    public const string DegradedRetrieval = "retrieval";

    public async Task<RecommendationResponse> RecommendAsync(string userId, int count, string? context, CancellationToken cancellationToken)
    {
        using var activity = RankingTelemetry.ActivitySource.StartActivity("recommend");
        activity?.SetTag("recsys.user", userId);
        var requestId = Activity.Current?.TraceId.ToString() ?? Guid.NewGuid().ToString("N");
        var o = options.Value;
        var stages = new Dictionary<string, double>(StringComparer.Ordinal);
        var degraded = new List<string>();
        var start = time.GetTimestamp();

        IReadOnlyList<CandidateDto> candidates;
        var stageStart = time.GetTimestamp();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(o.RetrievalTimeout);
            var response = await retrieval.GetCandidatesAsync(
                new CandidateRequest(userId, context, Math.Max(o.CandidateCount, count), null), timeout.Token);
            candidates = response.Candidates;
            degraded.AddRange(response.Degraded);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Any failure of candidate generation (HTTP error, timeout, an open circuit of the resilience pipeline)
            // degrades to trending; only the caller giving up ends the request.
            LogRetrievalFailed(logger, userId, ex.Message);
            degraded.Add(DegradedRetrieval);
            candidates = await fallback.GetAsync(userId, Math.Max(o.CandidateCount, count), cancellationToken);
        }

        stages["retrieval"] = time.GetElapsedTime(stageStart).TotalMilliseconds;

        stageStart = time.GetTimestamp();
        var scores = await ranker.ScoreAsync(userId, candidates, cancellationToken);
        var order = TopK(scores, count);
        var items = new RankedItem[order.Length];
        for (var i = 0; i < order.Length; i++)
        {
            var c = candidates[order[i]];
            items[i] = new RankedItem(c.ItemId, scores[order[i]], c.Sources);
        }

        stages["ranking"] = time.GetElapsedTime(stageStart).TotalMilliseconds;
        var total = time.GetElapsedTime(start);
        stages["total"] = total.TotalMilliseconds;

        telemetry.RecordRequest(total, items.Length, degraded.Count > 0);
        return new RecommendationResponse(
            userId,
            items,
            new RecommendationMetadata(requestId, ranker.Version, degraded, stages, candidates.Count));
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
}
