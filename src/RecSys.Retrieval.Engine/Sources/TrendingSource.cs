using RecSys.Candidates;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Serving;

namespace RecSys.Retrieval.Sources;

/// <summary>Globally popular items: <see cref="CandidateSignalReader.ReadTrendingAsync"/>, scored by share of the most popular.</summary>
internal sealed class TrendingSource(CandidateSignalReader store) : ICandidateSource
{
    public string Name => SourceNames.Trending;

    public async Task<IReadOnlyList<ScoredItem>> RetrieveAsync(RetrievalRequestContext request, int budget, CancellationToken cancellationToken)
    {
        var entries = await store.ReadTrendingAsync(budget, cancellationToken);
        var result = new ScoredItem[entries.Count];
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = new ScoredItem(entries[i].Member, entries[i].Score);
        }

        return result;
    }
}
