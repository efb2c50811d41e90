using System.Runtime.InteropServices;
using Microsoft.Extensions.Options;
using RecSys.Candidates;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Serving;

namespace RecSys.Retrieval.Sources;

/// <summary>
/// Popular items in the categories the user likes: the top <see cref="ContentSourceOptions.TopCategories"/> of
/// the user's category affinity, category share = its weight / the sum of those weights; an item scores the sum over those categories of
/// <c>share x (the item's popularity in c / the category's top popularity)</c>, normalized so that the best item scores 1.
/// </summary>
internal sealed class ContentSource(CandidateSignalReader store, IOptionsMonitor<RetrievalOptions> options) : ICandidateSource
{
    public string Name => SourceNames.Content;

    public UserSignalsQuery SignalsNeeded => new(0, options.CurrentValue.Content.TopCategories, 0);

    public async Task<IReadOnlyList<ScoredItem>> RetrieveAsync(RetrievalRequestContext request, int budget, CancellationToken cancellationToken)
    {
        var o = options.CurrentValue.Content;
        var signals = await request.SignalsAsync(store, SignalsNeeded, cancellationToken).WaitAsync(cancellationToken);
        var categories = signals.CategoryAffinity;
        var top = Math.Min(o.TopCategories, categories.Count);

        var total = 0.0;
        var count = 0;
        for (var i = 0; i < top; i++)
        {
            var score = categories[i].Score;
            if (score > 0 && double.IsFinite(score))
            {
                total += score;
                count++;
            }
        }

        if (count == 0)
        {
            return [];
        }

        // A category is read to a depth proportional to its share (ReadFactor x budget x share, at least MinItemsPerCategory,
        // at most the budget): its items score share x popularity, so a small-share category rarely places deep items.
        var lookups = new (string Category, int Depth)[count];
        var shares = new double[count];
        for (var i = 0; i < count; i++)
        {
            shares[i] = categories[i].Score / total;
            lookups[i] = (categories[i].Member, ScoreRanking.ReadDepth(o.ReadFactor * budget * shares[i], Math.Min(o.MinItemsPerCategory, budget), budget));
        }

        var lists = await store.ReadCategoryPopularAsync(lookups, cancellationToken);
        // This thread's scratch table: filled and ranked below with no await in between.
        var scores = ScoreRanking.ScratchScores();
        for (var i = 0; i < count; i++)
        {
            var entries = lists[i];
            if (entries.Length == 0 || !(entries[0].Score > 0))
            {
                continue;
            }

            var maxPopularity = entries[0].Score;
            foreach (var entry in entries)
            {
                CollectionsMarshal.GetValueRefOrAddDefault(scores, entry.Member, out _) += shares[i] * (entry.Score / maxPopularity);
            }
        }

        return ScoreRanking.TopNormalized(scores, budget);
    }
}
