using RecSys.Core.Domain;
using RecSys.Trainer.Ranking;

namespace RecSys.Trainer.Tests.Ranking;

public sealed class RankerLabelTests
{
    private const long Day = 86_400_000;
    private const long Minute = 60_000;

    private static (HistoryEvent, double?) E(string user, string item, EventType type, long ms, double? value = null) =>
        (new HistoryEvent(user, item, ms, type, EventTypes.EngagementWeight(type, value)), value);

    [Fact]
    public void Event_types_give_positives_and_impressions_without_engagement_give_negatives()
    {
        var t = 100 * Day;
        var labels = RankerLabeler.FromEvents(
        [
            E("u1", "a", EventType.Impression, t),
            E("u1", "a", EventType.Click, t + (5 * Minute)),          // the impression of a was clicked: not a negative
            E("u1", "b", EventType.Impression, t),                    // never engaged: negative
            E("u1", "c", EventType.Impression, t),
            E("u1", "c", EventType.Like, t + (2 * Day)),              // engaged outside the attribution window: still a negative
            E("u1", "d", EventType.Rating, t, 4.0),                   // high rating: engaged
            E("u1", "e", EventType.Rating, t, 3.5),                   // low rating: consumed
            E("u1", "f", EventType.View, t),                          // view: consumed
            E("u1", "g", EventType.Purchase, t),
            E("u1", "creator", EventType.Follow, t),                  // not about an item's relevance: no label
        ], new LabelPolicy());

        string Kinds(string item) => string.Join(",", labels.Where(l => l.ItemId == item).Select(l => l.Kind));
        Assert.Equal("Engaged", Kinds("a"));
        Assert.Equal("ShownNotEngaged", Kinds("b"));
        Assert.Equal("ShownNotEngaged,Engaged", Kinds("c"));
        Assert.Equal("Engaged", Kinds("d"));
        Assert.Equal("Consumed", Kinds("e"));
        Assert.Equal("Consumed", Kinds("f"));
        Assert.Equal("Engaged", Kinds("g"));
        Assert.Equal("", Kinds("creator"));
        Assert.All(labels, l => Assert.Equal(l.Kind is LabelKind.Engaged or LabelKind.Consumed ? 1f : 0f, l.Label));
        Assert.All(labels.Where(l => l.Kind == LabelKind.Consumed), l => Assert.Equal(0.5f, l.Weight));
        Assert.All(labels.Where(l => l.Kind != LabelKind.Consumed), l => Assert.Equal(1f, l.Weight));
        Assert.Equal(labels.OrderBy(l => l.EventTimeMs).Select(l => l.EventTimeMs), labels.Select(l => l.EventTimeMs));
    }

    [Fact]
    public void Weights_halve_per_half_life_of_age_before_the_newest_label_and_zero_weight_drops_consumption()
    {
        var policy = new LabelPolicy { HalfLife = TimeSpan.FromDays(10), ConsumedWeight = 0 };
        var labels = RankerLabeler.FromEvents(
        [
            E("u1", "new", EventType.Click, 50 * Day),
            E("u1", "old", EventType.Click, 40 * Day),
            E("u1", "older", EventType.Impression, 30 * Day),
            E("u1", "viewed", EventType.View, 45 * Day),
        ], policy);

        Assert.Equal(1f, labels.Single(l => l.ItemId == "new").Weight, 6);
        Assert.Equal(0.5f, labels.Single(l => l.ItemId == "old").Weight, 6);
        Assert.Equal(0.25f, labels.Single(l => l.ItemId == "older").Weight, 6);
        Assert.DoesNotContain(labels, l => l.ItemId == "viewed");
    }

    [Fact]
    public void A_negative_weight_or_half_life_is_refused()
    {
        Assert.Throws<ArgumentException>(() => new LabelPolicy { EngagedWeight = -1 }.Validate());
        Assert.Throws<ArgumentException>(() => new LabelPolicy { HalfLife = TimeSpan.FromDays(-1) }.Validate());
    }
}
