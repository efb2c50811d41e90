using Microsoft.Extensions.Options;
using RecSys.Candidates;
using RecSys.Core.Domain;
using RecSys.FeatureStore.Serving;
using RecSys.Retrieval.VectorIndex;
using RecSys.VectorSearch;

namespace RecSys.Retrieval.Sources;

/// <summary>
/// Collaborative retrieval: the user's embedding (<see cref="UserEmbeddingResolver"/>: base blended with session) searched in
/// the sharded item index with the budget as k. The user's own recent items and the request's exclusions are skipped in the
/// search. A shard that misses its deadline leaves the answer partial (logged with the coverage, and visible on the index
/// health check) rather than failing the source. Scores: cosine similarity mapped to [0, 1] as (1 + s) / 2; under inner
/// product, divided by the best score.
/// </summary>
internal sealed class CollaborativeSource(
    CandidateSignalReader store,
    UserEmbeddingResolver embeddings,
    IVectorIndexReader index,
    IOptions<VectorIndexOptions> options) : ICandidateSource
{
    public string Name => SourceNames.Collaborative;

    /// <summary>
    /// The resolver's recent items, and the user's seen items: a learned embedding lies closest to what the user already
    /// consumed, so the search must skip those or most of a small budget would be filtered away after fusion.
    /// </summary>
    public UserSignalsQuery SignalsNeeded => embeddings.SignalsNeeded with { Seen = true };

    public async Task<IReadOnlyList<ScoredItem>> RetrieveAsync(RetrievalRequestContext request, int budget, CancellationToken cancellationToken)
    {
        if (budget <= 0)
        {
            return [];
        }

        var signals = request.Signals ?? store.ReadUserSignalsAsync(request.UserId, SignalsNeeded, cancellationToken);
        // One snapshot for the whole request: the user's embedding and the searched shards come from one embedding version.
        var snapshot = index.Snapshot();
        var user = await embeddings.ResolveAsync(request.UserId, snapshot, signals, cancellationToken);
        if (user is null)
        {
            return [];
        }

        var seen = (await signals.WaitAsync(cancellationToken)).Seen;
        var exclude = new HashSet<long>(user.SessionItems.Count + request.Exclude.Count + seen.Count);
        foreach (var item in seen)
        {
            exclude.Add(IVectorIndexReader.KeyOf(item));
        }

        foreach (var item in user.SessionItems)
        {
            exclude.Add(IVectorIndexReader.KeyOf(item));
        }

        foreach (var item in request.Exclude)
        {
            exclude.Add(IVectorIndexReader.KeyOf(item));
        }

        var k = Math.Min(budget, VectorIndexOptions.MaxK);
        var result = await snapshot.SearchAsync(user.Vector, k, options.Value.Collaborative.EfSearch, filter: null, exclude, cancellationToken);
        request.ReportIndexCoverage(result.Coverage);
        return Normalize(result.Hits, index.Metric);
    }

    /// <summary>The hits as scored items, with their index keys (fusion and eligibility find items by them).</summary>
    internal static IReadOnlyList<ScoredItem> Normalize(IReadOnlyList<IndexHit> hits, Metric metric)
    {
        if (hits.Count == 0)
        {
            return [];
        }

        var items = new ScoredItem[hits.Count];
        var keys = new long[hits.Count];
        var max = hits[0].Score;
        for (var i = 0; i < items.Length; i++)
        {
            var h = hits[i];
            var score = metric == Metric.Cosine
                ? Math.Clamp((1 + (double)h.Score) / 2, 0, 1)
                : max > 0 ? Math.Clamp(h.Score / (double)max, 0, 1) : 0;
            items[i] = new ScoredItem(h.ItemId, score);
            // A hit's key is the key of its id (0 from a hit that did not carry it: KeyOf says the same then).
            keys[i] = h.Key != 0 ? h.Key : IndexedItems.KeyOf(h.ItemId);
        }

        return new KeyedScoredItems(items, keys);
    }
}
