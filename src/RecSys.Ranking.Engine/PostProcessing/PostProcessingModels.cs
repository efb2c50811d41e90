using RecSys.FeatureStore.Serving;
using RecSys.Learning.Ranking;

namespace RecSys.Ranking.PostProcessing;

/// <summary>
/// One candidate as the main ranker leaves it: its raw logit, what the business rules need to know of the item and its
/// embedding for diversity. <paramref name="Metadata"/> is what <see cref="ItemMetadataReader"/> returns (null, for an item
/// the store does not know, reads as <see cref="ItemMetadata.Unknown"/>); <paramref name="Embedding"/> is the item's vector
/// from the <see cref="EmbeddingStore"/> (empty when it has none: it is then dissimilar to everything).
/// </summary>
/// <param name="CreatedAt">When the item was created; null: <see cref="ItemMetadata.CreatedAt"/> (the item hash's <c>created</c> field) is used, and an item with neither is never boosted.</param>
public sealed record PostProcessingCandidate(
    string ItemId,
    float Logit,
    ItemMetadata? Metadata = null,
    DateTimeOffset? CreatedAt = null,
    ReadOnlyMemory<float> Embedding = default);

/// <summary>A ranking request's input to post-processing.</summary>
/// <param name="Count">How many items the response holds at most.</param>
/// <param name="Segment">The request's calibration segment (context and user-activity bucket, as the features define them).</param>
/// <param name="Context">The request context that selects blocked categories and pins (null: none but those of every context).</param>
/// <param name="RequestTime">The time freshness is measured at.</param>
/// <param name="Calibration">The model release's calibration (calibration.json); null falls back to a sigmoid, flagged in the result.</param>
public sealed record PostProcessingRequest(
    IReadOnlyList<PostProcessingCandidate> Candidates,
    int Count,
    SegmentKey Segment,
    string? Context,
    DateTimeOffset RequestTime,
    SegmentCalibration? Calibration);

/// <summary>An item of the response, in rank order.</summary>
/// <param name="Score">The ranking score after calibration and boosts (what the order was decided on, before diversity).</param>
/// <param name="Probability">The calibrated click probability of the main ranker's logit.</param>
/// <param name="CandidateIndex">Index of the item in <see cref="PostProcessingRequest.Candidates"/>.</param>
public sealed record PostProcessedItem(string ItemId, double Score, float Probability, bool Pinned, int CandidateIndex);

/// <summary>What one stage did, for the response metadata.</summary>
/// <param name="Removed">Candidates the stage dropped (or, for diversity, passed over because of a cap).</param>
/// <param name="Changed">Candidates whose score the stage changed (boosted, calibrated) or, for diversity, moved from their score rank.</param>
/// <param name="Pinned">Items the stage pinned.</param>
/// <param name="Note">A remark, such as a missing calibrator.</param>
public sealed record PostProcessingStageReport(string Stage, int Removed = 0, int Changed = 0, int Pinned = 0, string? Note = null);

/// <summary>The response items and what each stage did.</summary>
/// <param name="Calibrated">False when no calibration came with the model: probabilities are then sigmoid(logit).</param>
public sealed record PostProcessingResult(IReadOnlyList<PostProcessedItem> Items, IReadOnlyList<PostProcessingStageReport> Stages, bool Calibrated);

/// <summary>A candidate while it passes through the stages.</summary>
internal sealed class WorkingCandidate(int index, PostProcessingCandidate source)
{
    public int Index { get; } = index;

    public PostProcessingCandidate Source { get; } = source;

    public ItemMetadata Metadata { get; } = source.Metadata ?? ItemMetadata.Unknown;

    public float Probability { get; set; }

    public double Score { get; set; }

    /// <summary>1-based rank this item is pinned to, 0 when it is not pinned.</summary>
    public int PinnedRank { get; set; }

    /// <summary>Higher score first, then the earlier candidate: the order every stage breaks ties in.</summary>
    public static int ByScore(WorkingCandidate? x, WorkingCandidate? y) =>
        x is null || y is null ? 0 : y.Score.CompareTo(x.Score) is var c && c != 0 ? c : x.Index.CompareTo(y.Index);
}

/// <summary>The state the stages share for one request.</summary>
internal sealed class PostProcessingContext(PostProcessingRequest request, List<WorkingCandidate> candidates)
{
    public PostProcessingRequest Request { get; } = request;

    /// <summary>Candidates still eligible, pinned ones included.</summary>
    public List<WorkingCandidate> Candidates { get; } = candidates;

    /// <summary>The unpinned items in response order, once the diversity stage has run.</summary>
    public List<WorkingCandidate>? Ordered { get; set; }

    /// <summary>The response, once the top-N stage has run.</summary>
    public List<WorkingCandidate>? Final { get; set; }

    public bool Calibrated { get; set; }
}

/// <summary>One step of post-processing.</summary>
internal interface IPostProcessingStage
{
    PostProcessingStageReport Apply(PostProcessingContext context);
}
