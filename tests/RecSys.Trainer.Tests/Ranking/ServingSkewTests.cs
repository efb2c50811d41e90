using RecSys.Core.Domain;
using RecSys.Ranking.Features;
using RecSys.Trainer.Ranking;

namespace RecSys.Trainer.Tests.Ranking;

/// <summary>
/// The training side of the train-serve skew measures: session dropout reads a request as the store serves a user whose
/// session has lapsed (nothing else changes, the request time stays before the labels), and is repeatable.
/// </summary>
public sealed class ServingSkewTests
{
    private const long Minute = 60_000;
    private const long T0 = 1_700_000_000_000;

    [Fact]
    public void A_request_without_session_drops_only_the_session_items()
    {
        HistoryEvent[] log =
        [
            new("u1", "i1", T0, EventType.Like, EventTypes.EngagementWeight(EventType.Like, null)),
            new("u1", "i2", T0 + (90 * Minute), EventType.Click, EventTypes.EngagementWeight(EventType.Click, null)),
            new("u1", "i3", T0 + (100 * Minute), EventType.Like, EventTypes.EngagementWeight(EventType.Like, null)),
        ];
        var categories = new Dictionary<string, IReadOnlyList<string>> { ["i1"] = ["a"], ["i2"] = ["b"], ["i3"] = ["b"], ["i4"] = ["b"] };
        var history = new EventHistory(log, categories);
        var asOf = T0 + (110 * Minute);

        var full = history.Request("u1", asOf, null);
        var lapsed = history.Request("u1", asOf, null, withoutSession: true);
        Assert.Equal(new[] { "i3", "i2" }, full.User.Ids(RankingFeatureCatalog.UserSessionItems));
        Assert.Null(lapsed.User.Ids(RankingFeatureCatalog.UserSessionItems));
        Assert.Equal(full.User.Ids(RankingFeatureCatalog.UserRecentItems), lapsed.User.Ids(RankingFeatureCatalog.UserRecentItems));
        Assert.Equal(full.RequestTimeMs, lapsed.RequestTimeMs);

        // Computed rows: the session columns at their defaults, every other column as before.
        var columns = RankingFeatureCatalog.Names;
        var computer = new RankingRowComputer(columns);
        var a = new float[columns.Count];
        var b = new float[columns.Count];
        computer.Compute(full, [history.ItemAsOf("i4", asOf)], a);
        computer.Compute(lapsed, [history.ItemAsOf("i4", asOf)], b);
        for (var k = 0; k < columns.Count; k++)
        {
            if (columns[k].StartsWith("session_", StringComparison.Ordinal))
            {
                Assert.True(RankingFeatureCatalog.TryGet(columns[k], out var feature));
                Assert.Equal(feature.Default, b[k]);
            }
            else
            {
                Assert.Equal(a[k], b[k]);
            }
        }

        var count = columns.ToList().IndexOf("session_interaction_count");
        Assert.NotEqual(a[count], b[count]);
    }

    [Fact]
    public void Lapsed_dropout_is_repeatable_and_close_to_its_share()
    {
        var picks = Enumerable.Range(0, 20_000).Select(u => RankerGroupBuilder.ReadsAsLapsed(42, u, T0 + u, 0.3)).ToArray();
        var again = Enumerable.Range(0, 20_000).Select(u => RankerGroupBuilder.ReadsAsLapsed(42, u, T0 + u, 0.3)).ToArray();
        Assert.Equal(picks, again);
        Assert.InRange(picks.Count(p => p) / 20_000.0, 0.28, 0.32);
        Assert.NotEqual(picks, Enumerable.Range(0, 20_000).Select(u => RankerGroupBuilder.ReadsAsLapsed(7, u, T0 + u, 0.3)));
        Assert.DoesNotContain(Enumerable.Range(0, 1_000), u => RankerGroupBuilder.ReadsAsLapsed(42, u, T0, 0));
        Assert.All(Enumerable.Range(0, 1_000), u => Assert.True(RankerGroupBuilder.ReadsAsLapsed(42, u, T0, 1)));
    }
}
