using Microsoft.Extensions.Options;

namespace RecSys.Ranking.PostProcessing;

/// <summary>
/// Turns the main ranker's logits into the response list, in this order: calibration per segment; the business rules
/// (availability, blocked categories, pins, freshness boost, creator cap); diversity re-ranking; top N with the pins placed.
/// Pins are marked after the filters (a pinned item must be eligible) and before the boost and caps (which never drop it).
/// Stateless per request and safe to share.
/// </summary>
public sealed class PostProcessingPipeline
{
    private readonly int _maxCount;
    private readonly IPostProcessingStage[] _stages;

    public PostProcessingPipeline(IOptions<PostProcessingOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var settings = options.Value;
        var failures = new List<string>();
        foreach (var validator in new IValidateOptions<PostProcessingOptions>[] { new PostProcessingOptionsValidator(), new PostProcessingRulesValidator() })
        {
            var result = validator.Validate(null, settings);
            if (result.Failed)
            {
                failures.AddRange(result.Failures);
            }
        }

        if (failures.Count > 0)
        {
            throw new ArgumentException($"Invalid {PostProcessingOptions.SectionName}: {string.Join("; ", failures)}", nameof(options));
        }

        _maxCount = settings.MaxCount;
        var stages = new List<IPostProcessingStage> { new CalibrationStage() };
        if (settings.RemoveUnavailable)
        {
            stages.Add(new AvailabilityRule());
        }

        stages.Add(new BlockedCategoryRule(settings.BlockedCategories));
        stages.Add(new PinnedItemRule([.. settings.PinnedItems]));
        stages.Add(new FreshnessBoostRule(settings.Freshness));
        stages.Add(new CreatorCapRule(settings.MaxItemsPerCreator));
        stages.Add(new DiversityStage(settings.Diversity));
        stages.Add(new TopNStage());
        _stages = [.. stages];
    }

    public PostProcessingResult Process(PostProcessingRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.Candidates);
        if (request.Count < 1 || request.Count > _maxCount)
        {
            throw new ArgumentOutOfRangeException(nameof(request), request.Count, $"Count must lie in [1, {_maxCount}] ({PostProcessingOptions.SectionName}:MaxCount).");
        }

        var working = new List<WorkingCandidate>(request.Candidates.Count);
        for (var i = 0; i < request.Candidates.Count; i++)
        {
            var candidate = request.Candidates[i] ?? throw new ArgumentException($"Candidate {i} is null.", nameof(request));
            if (string.IsNullOrEmpty(candidate.ItemId))
            {
                throw new ArgumentException($"Candidate {i} has no item id.", nameof(request));
            }

            if (!float.IsFinite(candidate.Logit))
            {
                throw new ArgumentException($"Candidate '{candidate.ItemId}' has a logit of {candidate.Logit}.", nameof(request));
            }

            working.Add(new WorkingCandidate(i, candidate));
        }

        var context = new PostProcessingContext(request, working);
        var reports = new PostProcessingStageReport[_stages.Length];
        for (var s = 0; s < _stages.Length; s++)
        {
            reports[s] = _stages[s].Apply(context);
        }

        var items = context.Final!.Select(c => new PostProcessedItem(c.Source.ItemId, c.Score, c.Probability, c.PinnedRank > 0, c.Index)).ToArray();
        return new PostProcessingResult(items, reports, context.Calibrated);
    }
}
