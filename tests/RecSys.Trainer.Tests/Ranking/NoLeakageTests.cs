using RecSys.Core.Domain;
using RecSys.Ranking.Features;
using RecSys.Trainer.Ranking;

namespace RecSys.Trainer.Tests.Ranking;

/// <summary>Features as of a label's time see nothing at or after it: the same values as a log cut at that time.</summary>
public sealed class NoLeakageTests
{
    private const long Hour = 3_600_000;

    private static List<HistoryEvent> Log(int seed)
    {
        var random = new Random(seed);
        var types = new[] { EventType.View, EventType.Click, EventType.Like, EventType.Impression, EventType.Purchase };
        return
        [
            .. Enumerable.Range(0, 600).Select(i =>
            {
                var type = types[random.Next(types.Length)];
                return new HistoryEvent($"u{random.Next(8)}", $"i{random.Next(30)}", 1_700_000_000_000 + (random.Next(24 * 60) * Hour / 4), type, EventTypes.EngagementWeight(type, null));
            }),
        ];
    }

    [Fact]
    public void Values_as_of_a_time_equal_those_of_the_log_cut_at_that_time()
    {
        var log = Log(3);
        var categories = Enumerable.Range(0, 30).ToDictionary(i => $"i{i}", i => (IReadOnlyList<string>)[$"c{i % 4}"]);
        var full = new EventHistory(log, categories);
        var columns = RankingFeatureCatalog.Names;
        var computer = new RankingRowComputer(columns);
        string[] candidates = ["i0", "i1", "i7", "i29"];
        foreach (var label in log.Where((_, i) => i % 37 == 0))
        {
            // The request answered by this label is just before it.
            var asOf = label.TimeMs - 1;
            var cut = new EventHistory(log.Where(e => e.TimeMs <= asOf), categories);
            var a = new float[candidates.Length * columns.Count];
            var b = new float[candidates.Length * columns.Count];
            computer.Compute(full.Request(label.UserId, asOf, null), [.. candidates.Select(c => full.ItemAsOf(c, asOf))], a);
            computer.Compute(cut.Request(label.UserId, asOf, null), [.. candidates.Select(c => cut.ItemAsOf(c, asOf))], b);
            Assert.Equal(b, a);

            // And the label's own event is not counted: the user's event count grows only after it.
            full.UserAsOf(label.UserId, asOf).TryNumber(RankingFeatureCatalog.UserEventsTotal, out var before);
            full.UserAsOf(label.UserId, label.TimeMs).TryNumber(RankingFeatureCatalog.UserEventsTotal, out var after);
            Assert.True(after > before);
        }
    }
}
