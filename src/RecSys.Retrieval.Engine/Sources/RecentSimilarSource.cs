using System.Runtime.InteropServices;
using Microsoft.Extensions.Options;
using RecSys.Candidates;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Serving;

namespace RecSys.Retrieval.Sources;

/// <summary>
/// Items co-engaged with what the user interacted with recently: the newest <see cref="RecentSimilarOptions.SeedItems"/> of
/// the user's recent items, seed i (0 = newest) weighing <c>2^(-i / HalfLifeItems)</c>; each co-engaged neighbour of a seed
/// adds <c>seed weight x (co-weight / the seed's largest co-weight)</c>. The seeds themselves are not proposed.
/// Each seed's list is read to a depth of about <c>ReadFactor x budget / seeds</c>: large score responses are what
/// costs on the wire, and an item deep in one seed's list rarely makes the top of the sum.
/// </summary>
internal sealed class RecentSimilarSource(CandidateSignalReader store, IOptionsMonitor<RetrievalOptions> options) : ICandidateSource
{
    public string Name => SourceNames.RecentSimilar;

    public UserSignalsQuery SignalsNeeded => new(options.CurrentValue.RecentSimilar.SeedItems, 0, 0);

    public async Task<IReadOnlyList<ScoredItem>> RetrieveAsync(RetrievalRequestContext request, int budget, CancellationToken cancellationToken)
    {
        var o = options.CurrentValue.RecentSimilar;
        var signals = await request.SignalsAsync(store, SignalsNeeded, cancellationToken).WaitAsync(cancellationToken);
        var seedCount = Math.Min(o.SeedItems, signals.Recent.Count);
        if (seedCount == 0)
        {
            return [];
        }

        var perSeed = ScoreRanking.ReadDepth(o.ReadFactor * budget / seedCount, o.MinNeighboursPerSeed, o.MaxNeighboursPerSeed);
        var lookups = new (string Item, int Depth)[seedCount];
        var seedIds = new HashSet<string>(seedCount, StringComparer.Ordinal);
        for (var i = 0; i < seedCount; i++)
        {
            lookups[i] = (signals.Recent[i].Member, perSeed);
            seedIds.Add(signals.Recent[i].Member);
        }

        var lists = await store.ReadCoEngagedAsync(lookups, cancellationToken);
        // This thread's scratch table: filled and ranked below with no await in between.
        var scores = ScoreRanking.ScratchScores();
        for (var i = 0; i < seedCount; i++)
        {
            var neighbours = lists[i];
            if (neighbours.Length == 0 || !(neighbours[0].Score > 0))
            {
                continue;
            }

            var seedWeight = ScoreRanking.Decay(i, o.HalfLifeItems);
            var maxCo = neighbours[0].Score;
            foreach (var neighbour in neighbours)
            {
                if (seedIds.Contains(neighbour.Member))
                {
                    continue;
                }

                CollectionsMarshal.GetValueRefOrAddDefault(scores, neighbour.Member, out _) += seedWeight * (neighbour.Score / maxCo);
            }
        }

        return ScoreRanking.TopNormalized(scores, budget);
    }
}
