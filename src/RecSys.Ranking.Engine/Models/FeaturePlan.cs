using RecSys.Learning.Ranking;
using RecSys.Ranking.Features;

namespace RecSys.Ranking.Models;

/// <summary>
/// Which features a release fetches and where each model input finds its value. The fetched columns are the union of the
/// two models' features (nothing else is fetched), the pre-ranker's first; when the union exceeds the cap, only the most
/// important are kept and the inputs of the others are fed their default. Importance is compared across the two models
/// after scaling each model's importances to sum to 1 (tree gain and permutation loss are on different scales); a feature
/// both models use counts with the larger share.
/// </summary>
/// <param name="Columns">The fetched features, in fetch order: the pre-ranker's (kept) ones, then the main stage's others.</param>
/// <param name="PreRanker">For each pre-ranker input, its column in <paramref name="Columns"/>, or -1 when pruned.</param>
/// <param name="MainStage">For each main-stage input, its column in <paramref name="Columns"/>, or -1 when pruned.</param>
/// <param name="EagerColumns">How many leading columns the pre-ranker reads (needed for every candidate).</param>
/// <param name="Pruned">The features not fetched, most important first.</param>
public sealed record FeaturePlan(IReadOnlyList<string> Columns, int[] PreRanker, int[] MainStage, int EagerColumns, IReadOnlyList<string> Pruned)
{
    /// <summary>The cap: at most the 100 most important features are fetched.</summary>
    public const int DefaultMaxFetched = 100;

    public static FeaturePlan Create(IReadOnlyList<ManifestFeature> preRanker, IReadOnlyList<ManifestFeature> mainStage, int maxFetched)
    {
        ArgumentNullException.ThrowIfNull(preRanker);
        ArgumentNullException.ThrowIfNull(mainStage);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFetched, 1);
        var union = preRanker.Concat(mainStage).Select(f => f.Name).Distinct(StringComparer.Ordinal).ToList();
        var kept = union.ToHashSet(StringComparer.Ordinal);
        var pruned = new List<string>();
        if (union.Count > maxFetched)
        {
            var share = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var model in new[] { preRanker, mainStage })
            {
                var total = model.Sum(f => Math.Max(0, f.Importance));
                foreach (var feature in model)
                {
                    var s = total > 0 ? Math.Max(0, feature.Importance) / total : 1.0 / model.Count;
                    share[feature.Name] = Math.Max(share.GetValueOrDefault(feature.Name), s);
                }
            }

            // Most important first; equal shares keep fetch order, so the plan is the same on every load.
            var ranked = union.Select((name, order) => (name, order)).OrderByDescending(p => share[p.name]).ThenBy(p => p.order).Select(p => p.name).ToList();
            kept = ranked.Take(maxFetched).ToHashSet(StringComparer.Ordinal);
            pruned.AddRange(ranked.Skip(maxFetched));
        }

        List<string> columns = [.. union.Where(kept.Contains)];
        var position = columns.Select((name, i) => (name, i)).ToDictionary(p => p.name, p => p.i, StringComparer.Ordinal);
        var pre = preRanker.Select(f => position.GetValueOrDefault(f.Name, -1)).ToArray();
        var main = mainStage.Select(f => position.GetValueOrDefault(f.Name, -1)).ToArray();
        var eager = pre.Length == 0 ? 0 : pre.Max() + 1;
        return new FeaturePlan(columns, pre, main, eager, pruned);
    }

    /// <summary>What a pruned input is fed: the ranking feature's default (0 for a name the catalog does not define).</summary>
    public static float[] Defaults(IReadOnlyList<ManifestFeature> model) =>
        [.. model.Select(f => RankingFeatureCatalog.TryGet(f.Name, out var feature) ? feature.Default : 0f)];
}
