using System.Globalization;
using RecSys.Learning.Ranking;
using RecSys.Ranking.Features;
using RecSys.Ranking.Models;

namespace RecSys.Ranking.Tests.Models;

public sealed class FeaturePlanTests
{
    [Fact]
    public void A_release_within_the_cap_fetches_exactly_the_union_of_its_models_features_pre_ranker_first()
    {
        ManifestFeature[] pre = [new("a", 3), new("b", 1)];
        ManifestFeature[] main = [new("c", 0.5), new("a", 0.2), new("d", 0.1)];

        var plan = FeaturePlan.Create(pre, main, FeaturePlan.DefaultMaxFetched);

        Assert.Equal(["a", "b", "c", "d"], plan.Columns);
        Assert.Equal([0, 1], plan.PreRanker);
        Assert.Equal([2, 0, 3], plan.MainStage);
        Assert.Equal(2, plan.EagerColumns);
        Assert.Empty(plan.Pruned);
    }

    [Fact]
    public void A_manifest_with_more_than_100_features_is_pruned_to_the_100_most_important()
    {
        // 150 main-stage features with importance i (f149 the most important); the pre-ranker uses 5 of them.
        var main = Enumerable.Range(0, 150).Select(i => new ManifestFeature(Name(i), i)).ToArray();
        ManifestFeature[] pre = [new(Name(149), 1), new(Name(100), 1), new(Name(60), 1), new(Name(10), 1), new(Name(0), 1)];

        var plan = FeaturePlan.Create(pre, main, FeaturePlan.DefaultMaxFetched);

        Assert.Equal(100, plan.Columns.Count);
        // The pre-ranker spreads its importance evenly (0.2 each), above any single main-stage share (at most 149/11175),
        // so its five stay; the main stage's other 95 are its most important ones.
        var expected = new HashSet<string>([.. pre.Select(f => f.Name), .. Enumerable.Range(55, 95).Where(i => i != 60 && i != 100 && i != 149).Select(Name), Name(54), Name(53), Name(52)]);
        Assert.Equal(100, expected.Count);
        Assert.Equal(expected.Order(StringComparer.Ordinal), plan.Columns.Order(StringComparer.Ordinal));
        Assert.Equal(50, plan.Pruned.Count);
        Assert.DoesNotContain(Name(51), plan.Columns);

        // Every kept input reads its own column; pruned inputs read -1 (their default).
        for (var k = 0; k < main.Length; k++)
        {
            var column = plan.MainStage[k];
            Assert.Equal(plan.Columns.Contains(main[k].Name), column >= 0);
            if (column >= 0)
            {
                Assert.Equal(main[k].Name, plan.Columns[column]);
            }
        }

        // The pre-ranker's columns lead, so that the others can be computed only for the rows it keeps.
        Assert.Equal(5, plan.EagerColumns);
        Assert.All(plan.PreRanker, c => Assert.InRange(c, 0, 4));
    }

    [Fact]
    public void Pruned_inputs_are_fed_the_ranking_features_defaults()
    {
        ManifestFeature[] model = [new("user_log_days_since_last_event", 1), new("no_such_feature", 1), new("als_score", 1)];

        var defaults = FeaturePlan.Defaults(model);

        Assert.True(RankingFeatureCatalog.TryGet("user_log_days_since_last_event", out var days));
        Assert.Equal([days.Default, 0f, 0f], defaults);
        Assert.NotEqual(0f, days.Default);
    }

    private static string Name(int i) => "f" + i.ToString("000", CultureInfo.InvariantCulture);
}
