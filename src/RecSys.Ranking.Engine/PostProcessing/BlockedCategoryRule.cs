namespace RecSys.Ranking.PostProcessing;

/// <summary>Drops the candidates in a category blocked in the request's context (or in every context).</summary>
internal sealed class BlockedCategoryRule : IPostProcessingStage
{
    public const string Name = "blocked_categories";

    private readonly HashSet<string> _everywhere;
    private readonly Dictionary<string, HashSet<string>> _byContext;

    public BlockedCategoryRule(IReadOnlyDictionary<string, string[]> blocked)
    {
        _byContext = new Dictionary<string, HashSet<string>>(StringComparer.OrdinalIgnoreCase);
        foreach (var (context, categories) in blocked)
        {
            _byContext[context] = new HashSet<string>(categories, StringComparer.Ordinal);
        }

        _everywhere = _byContext.Remove(PostProcessingOptions.AnyContext, out var any) ? any : [];
    }

    public PostProcessingStageReport Apply(PostProcessingContext context)
    {
        var forContext = context.Request.Context is { } name && _byContext.TryGetValue(name, out var set) ? set : null;
        if (_everywhere.Count == 0 && forContext is null)
        {
            return new PostProcessingStageReport(Name);
        }

        var removed = context.Candidates.RemoveAll(candidate =>
        {
            foreach (var category in candidate.Metadata.Categories)
            {
                if (_everywhere.Contains(category) || (forContext?.Contains(category) ?? false))
                {
                    return true;
                }
            }

            return false;
        });
        return new PostProcessingStageReport(Name, Removed: removed);
    }
}
