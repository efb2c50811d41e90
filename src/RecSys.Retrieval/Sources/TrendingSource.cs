using RecSys.Core.Domain;
using RecSys.FeatureStore.Keys;
using StackExchange.Redis;

namespace RecSys.Retrieval.Sources;

/// <summary>Globally popular items: the top of the <see cref="OnlineKeys.Trending"/> zset, scored by score / max score.</summary>
internal sealed class TrendingSource(IConnectionMultiplexer redis) : ICandidateSource
{
    public string Name => SourceNames.Trending;

    public async Task<IReadOnlyList<ScoredItem>> RetrieveAsync(RetrievalRequestContext request, int budget, CancellationToken cancellationToken)
    {
        var entries = await redis.GetDatabase()
            .SortedSetRangeByRankWithScoresAsync(OnlineKeys.Trending, 0, budget - 1, Order.Descending)
            .WaitAsync(cancellationToken);
        if (entries.Length == 0)
        {
            return [];
        }

        // Descending order: the first entry holds the max. Decayed popularity is never negative; guard anyway.
        var max = entries[0].Score;
        var result = new ScoredItem[entries.Length];
        for (var i = 0; i < entries.Length; i++)
        {
            var score = max > 0 && double.IsFinite(max) ? Math.Clamp(entries[i].Score / max, 0, 1) : 0;
            result[i] = new ScoredItem(entries[i].Element!, score);
        }

        return result;
    }
}
