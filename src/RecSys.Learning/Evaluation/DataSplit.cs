using RecSys.Learning.Als;
using RecSys.Learning.Interactions;

namespace RecSys.Learning.Evaluation;

/// <summary>One (user, item) interaction with its strength and time (any monotone unit, e.g. Unix seconds).</summary>
public readonly record struct Interaction(int User, int Item, float Strength, long Timestamp);

/// <summary>
/// A train matrix and, per user, the held-out items to find. A held-out item the user also has in the training part is
/// dropped from the user's test set, since recommenders exclude seen items and could never return it.
/// </summary>
public sealed class DataSplit
{
    internal DataSplit(string name, InteractionMatrix train, int[][] test, int testInteractions, bool[] inTrain)
    {
        InTrain = inTrain;
        Name = name;
        Train = train;
        Test = test;
        TestInteractions = testInteractions;
    }

    public string Name { get; }

    public InteractionMatrix Train { get; }

    /// <summary>Held-out items per user, ascending; empty for users not evaluated.</summary>
    public IReadOnlyList<int[]> Test { get; }

    public int TestInteractions { get; }

    /// <summary>
    /// Per input interaction (same order as given to the split): true when it went to the training part. Lets a caller
    /// replay exactly the training part elsewhere (an end-to-end evaluation imports it into a running system).
    /// </summary>
    public IReadOnlyList<bool> InTrain { get; }

    /// <summary>
    /// Per-user temporal split: each user's interactions sorted by time (ties by input order), the last
    /// <c>max(1, round(fraction * n))</c> held out, for users with at least <paramref name="minInteractions"/>;
    /// users with fewer stay entirely in training.
    /// </summary>
    public static DataSplit Temporal(IReadOnlyList<Interaction> interactions, int userCount, int itemCount, double holdoutFraction = 0.2, int minInteractions = 2) =>
        Split("temporal", interactions, userCount, itemCount, holdoutFraction, minInteractions, (user, order) =>
            order.Sort((a, b) =>
            {
                var byTime = interactions[a].Timestamp.CompareTo(interactions[b].Timestamp);
                return byTime != 0 ? byTime : a.CompareTo(b);
            }));

    /// <summary>
    /// Per-user random split: each user's interactions shuffled by a generator seeded from (seed, user), the same number held
    /// out as in <see cref="Temporal"/>. Reproducible for a seed.
    /// </summary>
    public static DataSplit Random(IReadOnlyList<Interaction> interactions, int userCount, int itemCount, ulong seed, double holdoutFraction = 0.2, int minInteractions = 2) =>
        Split($"random(seed={seed})", interactions, userCount, itemCount, holdoutFraction, minInteractions, (user, order) =>
        {
            var state = SplitMix.Mix(seed ^ SplitMix.Mix((ulong)user + 1));
            for (var i = order.Count - 1; i > 0; i--)
            {
                state += SplitMix.Gamma;
                var j = (int)(SplitMix.Mix(state) % (ulong)(i + 1));
                (order[i], order[j]) = (order[j], order[i]);
            }
        });

    private static DataSplit Split(string name, IReadOnlyList<Interaction> interactions, int userCount, int itemCount, double holdoutFraction, int minInteractions, Action<int, List<int>> order)
    {
        ArgumentNullException.ThrowIfNull(interactions);
        ArgumentOutOfRangeException.ThrowIfNegative(userCount);
        ArgumentOutOfRangeException.ThrowIfNegative(itemCount);
        if (!(holdoutFraction is > 0 and < 1))
        {
            throw new ArgumentException($"Holdout fraction must be in (0, 1) (got {holdoutFraction}).", nameof(holdoutFraction));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(minInteractions, 2);
        var byUser = new List<int>[userCount];
        for (var e = 0; e < interactions.Count; e++)
        {
            var x = interactions[e];
            if ((uint)x.User >= (uint)userCount || (uint)x.Item >= (uint)itemCount)
            {
                throw new ArgumentException($"Interaction {e} ({x.User}, {x.Item}) is outside {userCount} users x {itemCount} items.", nameof(interactions));
            }

            (byUser[x.User] ??= []).Add(e);
        }

        var trainUsers = new List<int>(interactions.Count);
        var trainItems = new List<int>(interactions.Count);
        var trainStrengths = new List<float>(interactions.Count);
        var testSets = new int[userCount][];
        var inTrain = new bool[interactions.Count];
        var testCount = 0;
        for (var u = 0; u < userCount; u++)
        {
            var list = byUser[u];
            testSets[u] = [];
            if (list is null)
            {
                continue;
            }

            var held = list.Count >= minInteractions ? Math.Max(1, (int)Math.Round(holdoutFraction * list.Count, MidpointRounding.AwayFromZero)) : 0;
            if (held > 0)
            {
                order(u, list);
            }

            var trainPart = list.Count - held;
            var seen = new HashSet<int>();
            for (var k = 0; k < trainPart; k++)
            {
                var x = interactions[list[k]];
                inTrain[list[k]] = true;
                trainUsers.Add(u);
                trainItems.Add(x.Item);
                trainStrengths.Add(x.Strength);
                seen.Add(x.Item);
            }

            var test = new SortedSet<int>();
            for (var k = trainPart; k < list.Count; k++)
            {
                var item = interactions[list[k]].Item;
                if (!seen.Contains(item))
                {
                    test.Add(item);
                }
            }

            testSets[u] = [.. test];
            testCount += testSets[u].Length;
        }

        var train = InteractionMatrix.Build(userCount, itemCount, [.. trainUsers], [.. trainItems], [.. trainStrengths]);
        return new DataSplit(name, train, testSets, testCount, inTrain);
    }
}
