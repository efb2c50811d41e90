namespace RecSys.Ranking.PostProcessing;

/// <summary>Multiplies the score of items created within the window before the request (see <see cref="FreshnessBoostOptions"/>).</summary>
internal sealed class FreshnessBoostRule(FreshnessBoostOptions options) : IPostProcessingStage
{
    public const string Name = "freshness";

    public PostProcessingStageReport Apply(PostProcessingContext context)
    {
        if (options.Window <= TimeSpan.Zero || options.Factor <= 1)
        {
            return new PostProcessingStageReport(Name);
        }

        var boosted = 0;
        foreach (var candidate in context.Candidates)
        {
            // The candidate's own time when the caller set one, else the item hash's `created` (what serving reads).
            if ((candidate.Source.CreatedAt ?? candidate.Metadata.CreatedAt) is { } created && Multiplier(context.Request.RequestTime - created) is var factor && factor > 1)
            {
                candidate.Score *= factor;
                boosted++;
            }
        }

        return new PostProcessingStageReport(Name, Changed: boosted);
    }

    /// <summary>The full factor at age 0 (and for items dated after the request: clocks differ), falling linearly to 1 at the window.</summary>
    internal double Multiplier(TimeSpan age)
    {
        if (age >= options.Window)
        {
            return 1;
        }

        var remaining = 1 - (Math.Max(0, age.Ticks) / (double)options.Window.Ticks);
        return 1 + ((options.Factor - 1) * remaining);
    }
}
