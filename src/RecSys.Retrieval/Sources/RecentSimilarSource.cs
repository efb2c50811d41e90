using System.Runtime.InteropServices;
using Microsoft.Extensions.Options;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Keys;
using RecSys.Retrieval.Services;
using StackExchange.Redis;

namespace RecSys.Retrieval.Sources;

/// <summary>
/// Items co-engaged with what the user interacted with recently: the newest <see cref="RecentSimilarOptions.SeedItems"/> of
/// <c>u:{user}:recent</c>, seed i (0 = newest) weighing <c>2^(-i / HalfLifeItems)</c>; each neighbour in <c>co:{seed}</c>
/// adds <c>seed weight x (co-weight / the seed's largest co-weight)</c>. The seeds themselves are not proposed.
/// Each seed's list is read to a depth of about <c>ReadFactor x budget / seeds</c>: large score responses are what
/// costs on the wire, and an item deep in one seed's list rarely makes the top of the sum.
/// </summary>
internal sealed class RecentSimilarSource(IConnectionMultiplexer redis, IOptionsMonitor<RetrievalOptions> options) : ICandidateSource
{
    public string Name => SourceNames.RecentSimilar;

    public async Task<IReadOnlyList<ScoredItem>> RetrieveAsync(RetrievalRequestContext request, int budget, CancellationToken cancellationToken)
    {
        var o = options.CurrentValue.RecentSimilar;
        var db = redis.GetDatabase();
        var seeds = await db
            .SortedSetRangeByRankAsync(OnlineKeys.UserRecent(request.UserId), 0, o.SeedItems - 1, Order.Descending)
            .WaitAsync(cancellationToken);
        if (seeds.Length == 0)
        {
            return [];
        }

        var perSeed = ScoreRanking.ReadDepth(o.ReadFactor * budget / seeds.Length, o.MinNeighboursPerSeed, o.MaxNeighboursPerSeed);
        var batch = db.CreateBatch();
        var lookups = new Task<SortedSetEntry[]>[seeds.Length];
        for (var i = 0; i < seeds.Length; i++)
        {
            lookups[i] = batch.SortedSetRangeByRankWithScoresAsync(OnlineKeys.CoOccurrence(seeds[i]!), 0, perSeed - 1, Order.Descending);
        }

        batch.Execute();
        await Task.WhenAll(lookups).WaitAsync(cancellationToken);

        var seedIds = new HashSet<string>(seeds.Length, StringComparer.Ordinal);
        foreach (var seed in seeds)
        {
            seedIds.Add(seed!);
        }

        var scores = new Dictionary<string, double>(StringComparer.Ordinal);
        for (var i = 0; i < seeds.Length; i++)
        {
            var neighbours = lookups[i].Result;
            if (neighbours.Length == 0 || !(neighbours[0].Score > 0))
            {
                continue;
            }

            var seedWeight = ScoreRanking.Decay(i, o.HalfLifeItems);
            var maxCo = neighbours[0].Score;
            foreach (var neighbour in neighbours)
            {
                string item = neighbour.Element!;
                if (seedIds.Contains(item))
                {
                    continue;
                }

                CollectionsMarshal.GetValueRefOrAddDefault(scores, item, out _) += seedWeight * (neighbour.Score / maxCo);
            }
        }

        return ScoreRanking.TopNormalized(scores, budget);
    }
}
