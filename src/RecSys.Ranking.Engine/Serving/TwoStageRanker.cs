using System.Buffers;
using RecSys.Ranking.Features;
using RecSys.Ranking.Models;

namespace RecSys.Ranking.Serving;

/// <summary>One ranked candidate: its index in the request's candidate list, main-stage score and pre-ranker score.</summary>
public readonly record struct RankedCandidate(int Index, float Score, float PreRankScore);

/// <summary>The outcome of the two stages, with what served it and how long each stage took.</summary>
public sealed record TwoStageResult(
    IReadOnlyList<RankedCandidate> Items,
    ModelInfo Models,
    TimeSpan FeatureFetch,
    TimeSpan PreRank,
    TimeSpan MainRank,
    int PreRanked,
    int MainRanked);

/// <summary>
/// Ranks a request's candidates with the served release: the features of every candidate are fetched once for the union
/// of both models' inputs, the pre-ranker scores all of them on the caller's thread, the best
/// <c>Ranking:Models:PreRankKeep</c> go through the main stage's batcher, and the best <c>count</c> of those are returned.
/// </summary>
public sealed class TwoStageRanker(
    RankerReleaseManager releases,
    IRankingFeatureProvider? features,
    Microsoft.Extensions.Options.IOptionsMonitor<RankingModelOptions> options,
    TimeProvider time,
    RankingTelemetry? telemetry = null)
{
    public const string StageFeatureFetch = "feature_fetch";
    public const string StagePreRank = "pre_rank";
    public const string StageMainRank = "main_rank";

    /// <summary>
    /// Null when no release is served (the caller ranks by the fused score). Failures of the provider or a model propagate;
    /// a full main-stage queue is a <see cref="RecSys.Batching.BatchQueueFullException"/>.
    /// </summary>
    public async Task<TwoStageResult?> RankAsync(RankingQuery query, IReadOnlyList<RankingCandidate> candidates, int count, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        if (features is null || !releases.TryAcquire(out var lease))
        {
            return null;
        }

        using (lease)
        {
            var release = lease.Release;
            var models = new ModelInfo(release.Version, release.PreRanker.Version, release.MainStage.Kind, release.MainStage.Version, release.MainStage.ExecutionProvider);
            var n = candidates.Count;
            if (n == 0)
            {
                return new TwoStageResult([], models, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, 0, 0);
            }

            var start = time.GetTimestamp();
            using var matrix = await features.FetchAsync(query, candidates, release.Columns, cancellationToken).ConfigureAwait(false);
            release.CheckMatrix(matrix, n);
            var fetched = time.GetTimestamp();

            var keep = Math.Min(n, options.CurrentValue.PreRankKeep);
            var preWidth = release.PreRanker.Width;
            var mainWidth = release.MainStage.Width;
            var preRows = ArrayPool<float>.Shared.Rent(n * preWidth);
            var preScores = ArrayPool<float>.Shared.Rent(n);
            var order = ArrayPool<int>.Shared.Rent(n);
            var mainRows = ArrayPool<float>.Shared.Rent(keep * mainWidth);
            var mainScores = ArrayPool<float>.Shared.Rent(keep);
            var mainOrder = ArrayPool<int>.Shared.Rent(keep);
            try
            {
                for (var i = 0; i < n; i++)
                {
                    RankerRelease.Project(matrix.Row(i), release.PreRankerColumns, preRows.AsSpan(i * preWidth, preWidth));
                }

                release.PreRanker.Score(preRows.AsSpan(0, n * preWidth), preScores.AsSpan(0, n));
                TopIndices.Sort(preScores, n, order);
                var preRanked = time.GetTimestamp();

                for (var r = 0; r < keep; r++)
                {
                    RankerRelease.Project(matrix.Row(order[r]), release.MainStageColumns, mainRows.AsSpan(r * mainWidth, mainWidth));
                }

                await ScoreMainStageAsync(release, query, candidates, order.AsMemory(0, keep), mainRows, mainScores.AsMemory(0, keep), cancellationToken).ConfigureAwait(false);
                TopIndices.Sort(mainScores, keep, mainOrder);
                var returned = Math.Min(count, keep);
                var items = new RankedCandidate[returned];
                for (var k = 0; k < returned; k++)
                {
                    var r = mainOrder[k];
                    items[k] = new RankedCandidate(order[r], mainScores[r], preScores[order[r]]);
                }

                var end = time.GetTimestamp();
                var result = new TwoStageResult(items, models, time.GetElapsedTime(start, fetched), time.GetElapsedTime(fetched, preRanked),
                    time.GetElapsedTime(preRanked, end), n, keep);
                telemetry?.RecordStage(StageFeatureFetch, result.FeatureFetch);
                telemetry?.RecordStage(StagePreRank, result.PreRank);
                telemetry?.RecordStage(StageMainRank, result.MainRank);
                return result;
            }
            finally
            {
                ArrayPool<float>.Shared.Return(preRows);
                ArrayPool<float>.Shared.Return(preScores);
                ArrayPool<int>.Shared.Return(order);
                ArrayPool<float>.Shared.Return(mainRows);
                ArrayPool<float>.Shared.Return(mainScores);
                ArrayPool<int>.Shared.Return(mainOrder);
            }
        }
    }

    /// <summary>
    /// THE SEAM where the main stage's per-item scores are produced: <paramref name="scores"/>[r] for the candidate
    /// <paramref name="candidates"/>[<paramref name="selected"/>[r]], whose features are row r of <paramref name="rows"/>.
    /// Today: the raw main-stage score (the MLP logit) from the batched session. A score cache (look up before, store after)
    /// and post-processing (calibration.json of the release, business rules, diversity) go here; nothing of those is applied yet.
    /// </summary>
    private static ValueTask ScoreMainStageAsync(
        RankerRelease release,
        RankingQuery query,
        IReadOnlyList<RankingCandidate> candidates,
        ReadOnlyMemory<int> selected,
        float[] rows,
        Memory<float> scores,
        CancellationToken cancellationToken)
    {
        _ = query;
        _ = candidates;
        return release.Batcher.ScoreAsync(rows, selected.Length, scores, cancellationToken);
    }
}

/// <summary>Orders indices by score, best first; equal scores keep candidate order, NaN sorts last.</summary>
internal static class TopIndices
{
    public static void Sort(float[] scores, int count, int[] order)
    {
        var span = order.AsSpan(0, count);
        for (var i = 0; i < count; i++)
        {
            span[i] = i;
        }

        span.Sort(new ByScore(scores));
    }

    private readonly struct ByScore(float[] scores) : IComparer<int>
    {
        public int Compare(int a, int b)
        {
            var c = scores[b].CompareTo(scores[a]);
            return c != 0 ? c : a.CompareTo(b);
        }
    }
}
