using RecSys.Core.Contracts;
using RecSys.Core.Domain;

namespace RecSys.Trainer.Generation;

/// <summary>One generated event in compact form; <see cref="Target"/> is an item, or a creator for follows.</summary>
public readonly record struct GeneratedEvent(long Ticks, int User, int Day, int Sequence, int Target, EventType Type, double Value)
{
    public bool HasValue => !double.IsNaN(Value);
}

/// <summary>
/// Streams the events of a <see cref="SyntheticWorld"/> day by day: for each user a Poisson number of sessions a day
/// (rate from the user's heavy-tailed budget), each session showing impressions of items picked by category affinity,
/// then popularity within the category (alias tables), keeping the best-aligned of three draws; clicks follow
/// with probability sigmoid(taste . item + popularity bias), and views, likes, ratings and purchases may follow a click.
/// A day's events are sorted by time before they are yielded, so memory is O(users + events of one day).
/// </summary>
public sealed class WorldEventGenerator(SyntheticWorld world)
{
    private const int EventStream = 6;

    /// <summary>Average events of one session under the model below (measured), used to turn a budget into sessions.</summary>
    internal const double EventsPerSession = 14.0;

    private readonly long[] _counts = new long[Enum.GetValues<EventType>().Length];

    public SyntheticWorld World => world;

    /// <summary>Events generated so far, by type (complete once <see cref="Generate"/> has been enumerated).</summary>
    public IReadOnlyDictionary<EventType, long> CountsByType =>
        Enum.GetValues<EventType>().ToDictionary(t => t, t => Interlocked.Read(ref _counts[(int)t]));

    public long Total => _counts.Sum();

    /// <summary>An upper-bound-ish estimate of the number of events, for progress bars.</summary>
    public long ExpectedTotal => (long)world.UserEventBudget.Sum(x => (double)x);

    public IEnumerable<EventDto> GenerateDtos()
    {
        foreach (var e in Generate())
        {
            yield return ToDto(e);
        }
    }

    public EventDto ToDto(in GeneratedEvent e)
    {
        var userId = SyntheticWorld.UserId(e.User);
        var eventId = $"e{world.Options.Seed}-{e.User}-{e.Day}-{e.Sequence}";
        var time = new DateTimeOffset(e.Ticks, TimeSpan.Zero);
        double? value = e.HasValue ? e.Value : null;
        return e.Type == EventType.Follow
            ? new EventDto(eventId, userId, null, SyntheticWorld.CreatorId(e.Target), EventType.Follow.WireName(), value, time)
            : new EventDto(eventId, userId, SyntheticWorld.ItemId(e.Target), SyntheticWorld.CreatorId(world.ItemCreator[e.Target]), e.Type.WireName(), value, time);
    }

    public IEnumerable<GeneratedEvent> Generate()
    {
        Array.Clear(_counts);
        var options = world.Options;
        var followed = new bool[options.Users];
        var cumulative = new double[options.Categories];
        var buffer = new List<GeneratedEvent>();
        var startTicks = options.Start.UtcTicks;
        var endTicks = options.End.UtcTicks;
        for (var day = 0; day < options.Days; day++)
        {
            buffer.Clear();
            var dayStart = startTicks + day * TimeSpan.TicksPerDay;
            for (var user = 0; user < options.Users; user++)
            {
                var rng = Rng.For(options.Seed, EventStream, user, day);
                var rate = world.UserEventBudget[user] / EventsPerSession / options.Days;
                var sessions = rng.NextPoisson(rate);
                if (sessions == 0)
                {
                    continue;
                }

                world.CategoryCumulative(user, cumulative);
                var sequence = 0;
                for (var s = 0; s < sessions; s++)
                {
                    // Sessions start anywhere in the day but the last hour, so they end before the next day.
                    var t = dayStart + (long)(rng.NextDouble() * (TimeSpan.TicksPerDay - TimeSpan.TicksPerHour));
                    if (!followed[user])
                    {
                        followed[user] = true;
                        EmitFollows(ref rng, user, day, t, cumulative, buffer, ref sequence);
                    }

                    RunSession(ref rng, user, day, t, cumulative, buffer, ref sequence);
                }
            }

            buffer.Sort(static (a, b) =>
            {
                var c = a.Ticks.CompareTo(b.Ticks);
                if (c != 0)
                {
                    return c;
                }

                c = a.User.CompareTo(b.User);
                return c != 0 ? c : a.Sequence.CompareTo(b.Sequence);
            });
            foreach (var e in buffer)
            {
                if (e.Ticks < endTicks)
                {
                    Interlocked.Increment(ref _counts[(int)e.Type]);
                    yield return e;
                }
            }
        }
    }

    private void EmitFollows(ref Rng rng, int user, int day, long t, double[] cumulative, List<GeneratedEvent> buffer, ref int sequence)
    {
        var count = 1 + rng.NextInt(4);
        Span<int> chosen = stackalloc int[4];
        var n = 0;
        for (var i = 0; i < count * 2 && n < count; i++)
        {
            var creator = world.SampleCreatorInCategory(ref rng, SampleCategory(ref rng, cumulative));
            if (creator >= 0 && !chosen[..n].Contains(creator))
            {
                chosen[n++] = creator;
                buffer.Add(new GeneratedEvent(Round(t - TimeSpan.TicksPerSecond * (n + 1)), user, day, sequence++, creator, EventType.Follow, double.NaN));
            }
        }
    }

    private void RunSession(ref Rng rng, int user, int day, long t, double[] cumulative, List<GeneratedEvent> buffer, ref int sequence)
    {
        var impressions = 4 + rng.NextInt(12);
        for (var i = 0; i < impressions; i++)
        {
            t += TimeSpan.TicksPerSecond + (long)(rng.NextExponential(6) * TimeSpan.TicksPerSecond);
            var item = PickItem(ref rng, user, t, cumulative);
            if (item < 0)
            {
                continue;
            }

            Emit(buffer, ref t, 0, new Key(user, day, item), ref sequence, EventType.Impression, double.NaN);
            var affinity = world.Affinity(user, item);
            var clickLogit = (3.5 * affinity) + (0.8 * world.PopularityPercentile(item)) - 4.0;
            if (!rng.Chance(Sigmoid(clickLogit)))
            {
                continue;
            }

            Emit(buffer, ref t, 2 + rng.NextExponential(5), new Key(user, day, item), ref sequence, EventType.Click, double.NaN);
            if (rng.Chance(0.6))
            {
                var watched = Math.Clamp(0.35 + (0.5 * affinity) + (0.2 * rng.NextGaussian()), 0.01, 1.0);
                Emit(buffer, ref t, 1 + rng.NextExponential(3), new Key(user, day, item), ref sequence, EventType.View, Math.Round(watched, 3));
                t += (long)(watched * 120 * TimeSpan.TicksPerSecond);
            }

            if (rng.Chance(0.05 + (0.3 * Math.Max(affinity, 0))))
            {
                Emit(buffer, ref t, 1 + rng.NextExponential(10), new Key(user, day, item), ref sequence, EventType.Like, double.NaN);
            }

            if (rng.Chance(0.12))
            {
                var stars = Math.Clamp(Math.Round((3.0 + (2.5 * affinity) + (0.7 * rng.NextGaussian())) * 2) / 2, 0.5, 5.0);
                Emit(buffer, ref t, 2 + rng.NextExponential(15), new Key(user, day, item), ref sequence, EventType.Rating, stars);
            }

            if (rng.Chance(0.01 + (0.05 * Math.Max(affinity, 0))))
            {
                var price = Math.Round(2 + (98 * (1 - world.PopularityPercentile(item))), 2);
                Emit(buffer, ref t, 5 + rng.NextExponential(30), new Key(user, day, item), ref sequence, EventType.Purchase, price);
            }
        }
    }

    /// <summary>Best-aligned of three draws (category by affinity, then item by popularity), skipping items not yet created.</summary>
    private int PickItem(ref Rng rng, int user, long t, double[] cumulative)
    {
        var best = -1;
        var bestScore = double.NegativeInfinity;
        for (var draw = 0; draw < 3; draw++)
        {
            var item = world.SampleItemInCategory(ref rng, SampleCategory(ref rng, cumulative));
            if (item < 0 || world.ItemCreatedTicks[item] > t)
            {
                continue;
            }

            var score = world.Affinity(user, item);
            if (score > bestScore)
            {
                best = item;
                bestScore = score;
            }
        }

        return best;
    }

    private static int SampleCategory(ref Rng rng, double[] cumulative)
    {
        var x = rng.NextDouble() * cumulative[^1];
        int lo = 0, hi = cumulative.Length - 1;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (cumulative[mid] > x)
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }

        return lo;
    }

    private static void Emit(List<GeneratedEvent> buffer, ref long t, double afterSeconds, Key key, ref int sequence, EventType type, double value)
    {
        t += (long)(afterSeconds * TimeSpan.TicksPerSecond);
        buffer.Add(new GeneratedEvent(Round(t), key.User, key.Day, sequence++, key.Item, type, value));
    }

    private readonly record struct Key(int User, int Day, int Item);

    private static double Sigmoid(double x) => 1.0 / (1.0 + Math.Exp(-x));

    /// <summary>Event times are kept to the millisecond.</summary>
    private static long Round(long ticks) => ticks - (ticks % TimeSpan.TicksPerMillisecond);
}
