using System.Runtime.InteropServices;
using Microsoft.Extensions.Options;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Keys;
using RecSys.Retrieval.Services;
using StackExchange.Redis;

namespace RecSys.Retrieval.Sources;

/// <summary>
/// Popular items in the categories the user likes: the top <see cref="ContentSourceOptions.TopCategories"/> of
/// <c>u:{user}:cats</c>, category share = its weight / the sum of those weights; an item scores the sum over those categories of
/// <c>share x (popularity in cat:{c}:pop / the category's top popularity)</c>, normalized so that the best item scores 1.
/// </summary>
internal sealed class ContentSource(IConnectionMultiplexer redis, IOptionsMonitor<RetrievalOptions> options) : ICandidateSource
{
    public string Name => SourceNames.Content;

    public async Task<IReadOnlyList<ScoredItem>> RetrieveAsync(RetrievalRequestContext request, int budget, CancellationToken cancellationToken)
    {
        var o = options.CurrentValue.Content;
        var db = redis.GetDatabase();
        var categories = await db
            .SortedSetRangeByRankWithScoresAsync(OnlineKeys.UserCategoryAffinity(request.UserId), 0, o.TopCategories - 1, Order.Descending)
            .WaitAsync(cancellationToken);

        var total = 0.0;
        var count = 0;
        foreach (var c in categories)
        {
            if (c.Score > 0 && double.IsFinite(c.Score))
            {
                total += c.Score;
                count++;
            }
        }

        if (count == 0)
        {
            return [];
        }

        // A category is read to a depth proportional to its share (ReadFactor x budget x share, at least MinItemsPerCategory,
        // at most the budget): its items score share x popularity, so a small-share category rarely places deep items.
        var batch = db.CreateBatch();
        var lookups = new Task<SortedSetEntry[]>[count];
        var shares = new double[count];
        for (var i = 0; i < count; i++)
        {
            shares[i] = categories[i].Score / total;
            var depth = ScoreRanking.ReadDepth(o.ReadFactor * budget * shares[i], Math.Min(o.MinItemsPerCategory, budget), budget);
            lookups[i] = batch.SortedSetRangeByRankWithScoresAsync(OnlineKeys.CategoryPopularity(categories[i].Element!), 0, depth - 1, Order.Descending);
        }

        batch.Execute();
        await Task.WhenAll(lookups).WaitAsync(cancellationToken);

        var scores = new Dictionary<string, double>(StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            var entries = lookups[i].Result;
            if (entries.Length == 0 || !(entries[0].Score > 0))
            {
                continue;
            }

            var maxPopularity = entries[0].Score;
            foreach (var entry in entries)
            {
                CollectionsMarshal.GetValueRefOrAddDefault(scores, entry.Element!, out _) += shares[i] * (entry.Score / maxPopularity);
            }
        }

        return ScoreRanking.TopNormalized(scores, budget);
    }
}
