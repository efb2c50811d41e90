using System.Buffers;
using System.Collections.Concurrent;
using RecSys.Learning.Ranking;
using RecSys.Ranking.Caching;
using RecSys.Ranking.Features;
using RecSys.Ranking.Models;
using RecSys.Ranking.PostProcessing;

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
    int MainRanked)
{
    /// <summary>Calibration, rules, diversity and top N: what each stage did (empty when post-processing is not configured).</summary>
    public IReadOnlyList<PostProcessingStageReport> PostProcessing { get; init; } = [];

    public TimeSpan PostProcess { get; init; }

    /// <summary>Main-stage scores served from the score cache.</summary>
    public int CacheHits { get; init; }

    /// <summary>Why this release served, when a rollout routed the request (e.g. "v2: candidate, stage Canary (1 %), bucket 42 &lt; 100").</summary>
    public string? Routing { get; init; }
}

/// <summary>What post-processing reads of each candidate besides its score: item metadata and the item embedding.</summary>
public interface IPostProcessingInputs
{
    /// <summary>Metadata and embeddings of <paramref name="itemIds"/>, in order; entries may be null / empty when unknown.</summary>
    Task<(IReadOnlyList<RecSys.FeatureStore.Serving.ItemMetadata?> Metadata, IReadOnlyList<float[]?> Embeddings)> ReadAsync(
        IReadOnlyList<string> itemIds, CancellationToken cancellationToken);

    /// <summary>
    /// The same read, given each item's number in the item table snapshot stamped <paramref name="tableStamp"/>
    /// (<see cref="ItemFeatureSnapshot.Stamp"/>; -1 where the item was not found there): an implementation reading that
    /// snapshot may use the numbers instead of looking the ids up. The answer is the one of the ids alone.
    /// </summary>
    Task<(IReadOnlyList<RecSys.FeatureStore.Serving.ItemMetadata?> Metadata, IReadOnlyList<float[]?> Embeddings)> ReadAsync(
        IReadOnlyList<string> itemIds, int tableStamp, ReadOnlyMemory<int> tableNumbers, CancellationToken cancellationToken) =>
        ReadAsync(itemIds, cancellationToken);
}

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
    RankingTelemetry? telemetry = null,
    ScoreCache? scoreCache = null,
    PostProcessingPipeline? postProcessing = null,
    IPostProcessingInputs? postProcessingInputs = null)
{
    public const string StagePostProcess = "post_process";

    // One parsed calibration per release folder (null: the release has none or it does not parse).
    private readonly ConcurrentDictionary<string, SegmentCalibration?> _calibrations = new(StringComparer.Ordinal);

    public const string StageFeatureFetch = "feature_fetch";
    public const string StagePreRank = "pre_rank";
    public const string StageMainRank = "main_rank";

    /// <summary>
    /// Null when no release is served (the caller ranks by the fused score). Failures of the provider or a model propagate;
    /// a full main-stage queue is a <see cref="RecSys.Batching.BatchQueueFullException"/>.
    /// </summary>
    public Task<TwoStageResult?> RankAsync(RankingQuery query, IReadOnlyList<RankingCandidate> candidates, int count, CancellationToken cancellationToken) =>
        RankAsync(query, candidates, count, version: null, cancellationToken);

    /// <summary>Ranks with release <paramref name="version"/> (null: the served one); null when that release is not loaded.</summary>
    public async Task<TwoStageResult?> RankAsync(RankingQuery query, IReadOnlyList<RankingCandidate> candidates, int count, string? version, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ReleaseLease lease = default;
        if (features is null || !(version is null ? releases.TryAcquire(out lease) : releases.TryAcquire(version, out lease)))
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
            using var matrix = await features.FetchAsync(query with { EagerColumns = release.EagerColumns }, candidates, release.Columns, cancellationToken).ConfigureAwait(false);
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
                    release.ProjectPreRanker(matrix.Row(i), preRows.AsSpan(i * preWidth, preWidth));
                }

                release.PreRanker.Score(preRows.AsSpan(0, n * preWidth), preScores.AsSpan(0, n));
                // Only the kept ones are read: the best keep of n, in the full sort's order.
                TopIndices.SelectTop(preScores, n, keep, order);
                var preRanked = time.GetTimestamp();

                // The main stage's other features, for the kept rows only.
                matrix.CompleteRows(order.AsSpan(0, keep));
                for (var r = 0; r < keep; r++)
                {
                    release.ProjectMainStage(matrix.Row(order[r]), mainRows.AsSpan(r * mainWidth, mainWidth));
                }

                var cacheHits = await ScoreMainStageAsync(release, query, candidates, matrix.FeatureState, order.AsMemory(0, keep), mainRows, mainScores.AsMemory(0, keep), cancellationToken).ConfigureAwait(false);
                TopIndices.Sort(mainScores, keep, mainOrder);
                var mainRanked = time.GetTimestamp();
                RankedCandidate[] items;
                IReadOnlyList<PostProcessingStageReport> reports = [];
                if (postProcessing is not null)
                {
                    (items, reports) = await PostProcessAsync(release, query, candidates, matrix.Segment, order, mainOrder, mainScores, preScores, keep, count, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    var returned = Math.Min(count, keep);
                    items = new RankedCandidate[returned];
                    for (var k = 0; k < returned; k++)
                    {
                        var r = mainOrder[k];
                        items[k] = new RankedCandidate(order[r], mainScores[r], preScores[order[r]]);
                    }
                }

                var end = time.GetTimestamp();
                var result = new TwoStageResult(items, models, time.GetElapsedTime(start, fetched), time.GetElapsedTime(fetched, preRanked),
                    time.GetElapsedTime(preRanked, mainRanked), n, keep)
                {
                    PostProcessing = reports,
                    PostProcess = time.GetElapsedTime(mainRanked, end),
                    CacheHits = cacheHits,
                };
                telemetry?.RecordStage(StageFeatureFetch, result.FeatureFetch);
                telemetry?.RecordStage(StagePreRank, result.PreRank);
                telemetry?.RecordStage(StageMainRank, result.MainRank);
                telemetry?.RecordStage(StagePostProcess, result.PostProcess);
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
    /// The main stage's per-item scores: <paramref name="scores"/>[r] for the candidate
    /// <paramref name="candidates"/>[<paramref name="selected"/>[r]], whose features are row r of <paramref name="rows"/>.
    /// Scores cached for this user, model and feature state are reused; only the misses go through the batched session.
    /// Returns how many came from the cache.
    /// </summary>
    private async ValueTask<int> ScoreMainStageAsync(
        RankerRelease release,
        RankingQuery query,
        IReadOnlyList<RankingCandidate> candidates,
        string? featureState,
        ReadOnlyMemory<int> selected,
        float[] rows,
        Memory<float> scores,
        CancellationToken cancellationToken)
    {
        var count = selected.Length;
        if (scoreCache is null || featureState is null || count == 0)
        {
            await release.Batcher.ScoreAsync(rows, count, scores, cancellationToken).ConfigureAwait(false);
            return 0;
        }

        var scope = new ScoreCacheScope(query.UserId, release.Version + "/" + release.MainStage.Version, featureState);
        var ids = new string[count];
        for (var r = 0; r < count; r++)
        {
            ids[r] = candidates[selected.Span[r]].ItemId;
        }

        var misses = ArrayPool<int>.Shared.Rent(count);
        try
        {
            var missCount = scoreCache.Lookup(scope, ids, scores.Span, misses);
            if (missCount == 0)
            {
                return count;
            }

            var width = release.MainStage.Width;
            var missRows = missCount == count ? rows : ArrayPool<float>.Shared.Rent(missCount * width);
            var missScores = ArrayPool<float>.Shared.Rent(missCount);
            try
            {
                if (missCount != count)
                {
                    for (var k = 0; k < missCount; k++)
                    {
                        rows.AsSpan(misses[k] * width, width).CopyTo(missRows.AsSpan(k * width, width));
                    }
                }

                await release.Batcher.ScoreAsync(missRows, missCount, missScores.AsMemory(0, missCount), cancellationToken).ConfigureAwait(false);
                for (var k = 0; k < missCount; k++)
                {
                    scores.Span[misses[k]] = missScores[k];
                }

                scoreCache.Store(scope, ids, misses.AsSpan(0, missCount), missScores.AsSpan(0, missCount));
                return count - missCount;
            }
            finally
            {
                if (!ReferenceEquals(missRows, rows))
                {
                    ArrayPool<float>.Shared.Return(missRows);
                }

                ArrayPool<float>.Shared.Return(missScores);
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(misses);
        }
    }

    /// <summary>
    /// Calibration per segment, business rules, diversity and top N over the main stage's candidates (best first), with the
    /// release's calibration and the items' metadata and embeddings.
    /// </summary>
    private async Task<(RankedCandidate[] Items, IReadOnlyList<PostProcessingStageReport> Reports)> PostProcessAsync(
        RankerRelease release,
        RankingQuery query,
        IReadOnlyList<RankingCandidate> candidates,
        SegmentKey? segment,
        int[] order,
        int[] mainOrder,
        float[] mainScores,
        float[] preScores,
        int keep,
        int count,
        CancellationToken cancellationToken)
    {
        var ids = new string[keep];
        var numbers = new int[keep];
        var stamp = 0;
        for (var k = 0; k < keep; k++)
        {
            var candidate = candidates[order[mainOrder[k]]];
            ids[k] = candidate.ItemId;
            // The numbers of the snapshot the candidates were decoded against (one per response); -1 where unknown there.
            if (stamp == 0 && candidate.TableStamp != 0)
            {
                stamp = candidate.TableStamp;
            }

            numbers[k] = candidate.TableStamp != 0 && candidate.TableStamp == stamp ? candidate.TableNumber : -1;
        }

        IReadOnlyList<RecSys.FeatureStore.Serving.ItemMetadata?>? metadata = null;
        IReadOnlyList<float[]?>? embeddings = null;
        if (postProcessingInputs is not null)
        {
            (metadata, embeddings) = stamp != 0
                ? await postProcessingInputs.ReadAsync(ids, stamp, numbers, cancellationToken).ConfigureAwait(false)
                : await postProcessingInputs.ReadAsync(ids, cancellationToken).ConfigureAwait(false);
        }

        var input = new PostProcessingCandidate[keep];
        for (var k = 0; k < keep; k++)
        {
            input[k] = new PostProcessingCandidate(ids[k], mainScores[mainOrder[k]], metadata?[k], null, embeddings?[k] is { } e ? e : ReadOnlyMemory<float>.Empty);
        }

        var result = postProcessing!.Process(new PostProcessingRequest(
            input, count, segment ?? new SegmentKey(RankingSegments.ContextCode(query.Context), 0), query.Context, query.RequestTime, CalibrationOf(release)));
        var items = new RankedCandidate[result.Items.Count];
        for (var i = 0; i < items.Length; i++)
        {
            var item = result.Items[i];
            var r = mainOrder[item.CandidateIndex];
            items[i] = new RankedCandidate(order[r], (float)item.Score, preScores[order[r]]);
        }

        return (items, result.Stages);
    }

    private SegmentCalibration? CalibrationOf(RankerRelease release) =>
        _calibrations.GetOrAdd(release.MainStage.Directory, _ =>
        {
            if (release.CalibrationPath is not { } path)
            {
                return null;
            }

            try
            {
                return SegmentCalibration.FromJson(File.ReadAllText(path));
            }
            catch (Exception ex) when (ex is IOException or InvalidDataException or System.Text.Json.JsonException or ArgumentException)
            {
                // Post-processing then applies a sigmoid and flags the response uncalibrated.
                return null;
            }
        });
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

    /// <summary>
    /// The first <paramref name="keep"/> entries of <see cref="Sort"/>'s order, without sorting the rest: a bounded heap of
    /// the best seen so far (its worst on top), then a sort of the kept. The order is total (ties by index), so the result is
    /// exactly the full sort's prefix. Entries of <paramref name="order"/> past <paramref name="keep"/> are left unspecified.
    /// </summary>
    public static void SelectTop(float[] scores, int count, int keep, int[] order)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(keep);
        keep = Math.Min(keep, count);
        if (keep * 2 >= count)
        {
            Sort(scores, count, order);
            return;
        }

        var comparer = new ByScore(scores);
        var heap = order.AsSpan(0, keep);
        for (var i = 0; i < keep; i++)
        {
            heap[i] = i;
            SiftUp(heap, i, comparer);
        }

        for (var i = keep; i < count; i++)
        {
            // heap[0] is the worst kept; a candidate better than it replaces it.
            if (keep > 0 && comparer.Compare(i, heap[0]) < 0)
            {
                heap[0] = i;
                SiftDown(heap, 0, comparer);
            }
        }

        heap.Sort(comparer);
    }

    // A max-heap under ByScore (greatest = worst score, ties: larger index) keeps the worst kept entry at the root.
    private static void SiftUp(Span<int> heap, int i, ByScore comparer)
    {
        while (i > 0)
        {
            var parent = (i - 1) / 2;
            if (comparer.Compare(heap[i], heap[parent]) <= 0)
            {
                return;
            }

            (heap[i], heap[parent]) = (heap[parent], heap[i]);
            i = parent;
        }
    }

    private static void SiftDown(Span<int> heap, int i, ByScore comparer)
    {
        while (true)
        {
            var left = (2 * i) + 1;
            if (left >= heap.Length)
            {
                return;
            }

            var worst = left + 1 < heap.Length && comparer.Compare(heap[left + 1], heap[left]) > 0 ? left + 1 : left;
            if (comparer.Compare(heap[worst], heap[i]) <= 0)
            {
                return;
            }

            (heap[i], heap[worst]) = (heap[worst], heap[i]);
            i = worst;
        }
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
