using RecSys.Core.Contracts;
using RecSys.Core.Domain;
using RecSys.Learning.Als;
using RecSys.Learning.Evaluation;
using RecSys.Learning.Interactions;
using RecSys.Learning.Ranking;
using RecSys.Ranking.Features;
using RecSys.Trainer.Training;

namespace RecSys.Trainer.Ranking;

/// <summary>When the features of a group are read.</summary>
public enum AsOfMode
{
    /// <summary>Just before the user's first held-out event (the request the labels answer), per user.</summary>
    UserCutoff,

    /// <summary>At the latest event the features may see (what a system that imported the data serves afterwards).</summary>
    DataEnd,
}

/// <summary>Settings of the ranker training set and models.</summary>
public sealed record RankerTrainingOptions
{
    /// <summary>Candidates per request from the ALS model (what Retrieval's collaborative source returns).</summary>
    public int AlsCandidates { get; init; } = 100;

    /// <summary>Most popular unseen items added to the candidates (Retrieval's popularity source).</summary>
    public int PopularCandidates { get; init; } = 20;

    /// <summary>
    /// Extra candidates per training request that only the pre-ranker trains on, drawn (seeded, uniformly) from the deeper part of
    /// what Retrieval gives it: ALS ranks past <see cref="AlsCandidates"/> down to <see cref="RetrievalAlsDepth"/> and popular
    /// ranks past <see cref="PopularCandidates"/> down to <see cref="RetrievalPopularDepth"/>. In serving the pre-ranker sorts
    /// thousands of fused candidates, most of them far below the ALS top 100 the main ranker learns from; trained on the top
    /// 100 alone it has never seen the items it must push down. 0 trains it on the main ranker's candidates only.
    /// </summary>
    public int PreRankerExtraCandidates { get; init; }

    /// <summary>Deepest ALS rank the pre-ranker's extra candidates (and the wide evaluation) draw from: the collaborative source's budget.</summary>
    public int RetrievalAlsDepth { get; init; } = 2_500;

    /// <summary>Deepest popularity rank the pre-ranker's extra candidates (and the wide evaluation) draw from: the trending source's budget.</summary>
    public int RetrievalPopularDepth { get; init; } = 500;

    /// <summary>Candidates the pre-ranker keeps for the main ranker in the wide evaluation (Ranking's <c>PreRankKeep</c>).</summary>
    public int PreRankKeep { get; init; } = 500;

    /// <summary>Share of each user's interactions (of the training part) used as labels; the rest feed features and the ALS fit.</summary>
    public double LabelFraction { get; init; } = 0.2;

    /// <summary>Label windows per user, each inside the previous one's feature part (more requests from the same log).</summary>
    public int Windows { get; init; } = 3;

    public AsOfMode AsOf { get; init; } = AsOfMode.UserCutoff;

    /// <summary>
    /// When the features of the evaluation's requests (<c>--evaluate</c>) are read. <see cref="AsOfMode.DataEnd"/>, the default,
    /// asks every test user at one instant after the training part, as the end-to-end evaluation asks a running system.
    /// </summary>
    public AsOfMode EvaluateAsOf { get; init; } = AsOfMode.DataEnd;

    /// <summary>
    /// Share of the training requests read as the store serves a user who has lapsed (lapsed dropout): no session items, and the
    /// latest event more than <see cref="RankingFeatureCatalog.MaxDays"/> days before the request. Point-in-time requests sit
    /// just before their labels, so the user is always active then (mid-session, back after a few days), while a system is
    /// also asked for users who are not; the ranker trained only on active requests leans on the session and recency features
    /// and ranks lapsed users worse than the embeddings alone. Chosen per request by a hash of the seed, the user and the
    /// request's distance to the data's end (not its absolute time, so a log imported shifted in time picks the same
    /// requests), so a run is repeatable; the request time, labels and every other value stay as they are.
    /// </summary>
    public double LapsedDropout { get; init; } = 0.5;

    public LabelPolicy Labels { get; init; } = new();

    public int Seed { get; init; } = 42;

    public void Validate()
    {
        if (AlsCandidates < 1 || PopularCandidates < 0 || AlsCandidates + PopularCandidates > 5_000)
        {
            throw new ArgumentException("ALS candidates must be at least 1, popular candidates 0 or more, together at most 5,000.");
        }

        if (PreRankerExtraCandidates < 0 || RetrievalAlsDepth < AlsCandidates || RetrievalPopularDepth < PopularCandidates || PreRankKeep < 1
            || AlsCandidates + PopularCandidates + PreRankerExtraCandidates > 5_000 || RetrievalAlsDepth + RetrievalPopularDepth > 10_000)
        {
            throw new ArgumentException("Pre-ranker extra candidates must be 0 or more (with the ALS and popular ones at most 5,000); the retrieval depths must "
                + "reach at least the ALS and popular candidates (together at most 10,000); PreRankKeep at least 1.");
        }

        if (Windows is < 1 or > 10)
        {
            throw new ArgumentException("Label windows must be between 1 and 10.");
        }

        if (!(LabelFraction is > 0 and < 1))
        {
            throw new ArgumentException("The label fraction must be between 0 and 1 (exclusive).");
        }

        if (!(LapsedDropout is >= 0 and <= 1))
        {
            throw new ArgumentException("The lapsed dropout must be between 0 and 1.");
        }

        Labels.Validate();
    }
}

/// <summary>
/// Requests with their candidates (item indices), the feature rows and labels. <see cref="Data"/> holds the main ranker's
/// candidates; <see cref="PreRankData"/> the same requests with the pre-ranker's extra candidates appended to each group
/// (the same object when there are none).
/// </summary>
internal sealed record RankerGroupSet(RankingDataset Data, RankingDataset PreRankData, IReadOnlyList<int> Users, IReadOnlyList<int[]> Candidates, FactorModel? Model, int LabelledGroups);

/// <summary>
/// Builds ranking groups from the system's events: per user, a request just before the held-out part, its candidates from an
/// ALS model fitted only on the earlier part (plus popular items), labelled by what the user engaged with afterwards; features
/// through <see cref="RankingFeatureCatalog"/> over <see cref="EventHistory"/> values as of the request (no leakage).
/// </summary>
internal sealed class RankerGroupBuilder(TrainingData data, IReadOnlyList<EventDto> otherEvents, RankerTrainingOptions options, AlsOptions als, TimeProvider time)
{
    /// <summary>How long before a lapsed request its user's latest event is placed: one day past the days-since cap.</summary>
    private static readonly long LapsedMs = (long)TimeSpan.FromDays(RankingFeatureCatalog.MaxDays + 1).TotalMilliseconds;

    /// <summary>
    /// Where the registry values with an offline form come from: the training-set API (labels and weights pass through it),
    /// or null to replay them from the log like the rest.
    /// </summary>
    public TrainingSetFeatures? TrainingSets { get; init; }

    /// <summary>
    /// When set, every ALS fit the groups are built with is first rotated onto this model's basis (<see cref="FactorModel.AlignTo"/>):
    /// scores do not change, but features that read single embedding coordinates then mean the same in every window and in serving.
    /// </summary>
    public FactorModel? AlignmentReference { get; set; }

    /// <summary>Folder for the training-set API's answers (deleted as they are read).</summary>
    public string WorkDirectory { get; init; } = Path.Combine(Path.GetTempPath(), "recsys-train-rankers");

    /// <summary>
    /// Training groups from the interactions in <paramref name="scope"/> (the evaluation's training part, or everything): each
    /// user's latest <see cref="RankerTrainingOptions.LabelFraction"/> become labels, the rest features and the ALS fit; then the
    /// same again inside the feature part, <see cref="RankerTrainingOptions.Windows"/> times (each window its own ALS fit, so
    /// that no model saw its labels), giving several requests per user. Groups are shuffled (seeded) across windows.
    /// </summary>
    public async Task<RankerGroupSet> TrainingAsync(IReadOnlyList<bool> scope, IReadOnlyList<string> columns, CancellationToken cancellationToken)
    {
        var current = scope.ToArray();
        var groups = new List<Group>();
        var reference = LatestTime(current);
        for (var w = 0; w < options.Windows; w++)
        {
            var scoped = Enumerable.Range(0, data.Interactions.Count).Where(i => current[i]).ToArray();
            var inner = DataSplit.Temporal([.. scoped.Select(i => data.Interactions[i])], data.Users.Count, data.Items.Count, options.LabelFraction);
            if (inner.TestInteractions == 0)
            {
                break;
            }

            var featureMask = new bool[data.Interactions.Count];
            var labelMask = new bool[data.Interactions.Count];
            for (var k = 0; k < scoped.Length; k++)
            {
                (inner.InTrain[k] ? featureMask : labelMask)[scoped[k]] = true;
            }

            var model = new AlsTrainer(als, time).Train(inner.Train, cancellationToken: cancellationToken);
            Align(model, inner.Train);
            groups.AddRange(await BuildAsync(featureMask, labelMask, inner.Train, model, columns, reference, options.AsOf, options.LapsedDropout,
                CandidateDraw.Training, cancellationToken));
            current = featureMask;
        }

        if (groups.Count == 0)
        {
            throw new ArgumentException("No user has enough interactions to hold some out as labels.");
        }

        new Random(options.Seed).Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(groups));
        return Assemble(groups, columns, null);
    }

    /// <summary>
    /// Groups of the evaluation: features from the split's training part, candidates from <paramref name="model"/> fitted on it:
    /// the main ranker's (ALS and popular, <paramref name="wide"/> false) or as deep as Retrieval's collaborative and trending
    /// budgets reach (<see cref="RankerTrainingOptions.RetrievalAlsDepth"/>, <see cref="RankerTrainingOptions.RetrievalPopularDepth"/>),
    /// the set the pre-ranker filters in serving.
    /// </summary>
    public async Task<RankerGroupSet> EvaluationAsync(DataSplit split, FactorModel model, IReadOnlyList<string> columns, CancellationToken cancellationToken, bool wide = false)
    {
        var featureMask = new bool[data.Interactions.Count];
        var labelMask = new bool[data.Interactions.Count];
        for (var i = 0; i < featureMask.Length; i++)
        {
            (split.InTrain[i] ? featureMask : labelMask)[i] = true;
        }

        Align(model, split.Train);

        return Assemble(await BuildAsync(featureMask, labelMask, split.Train, model, columns, LatestTime(labelMask), options.EvaluateAsOf, 0,
            wide ? CandidateDraw.Wide : CandidateDraw.Main, cancellationToken), columns, model);
    }

    /// <summary>Rotates <paramref name="model"/> onto <see cref="AlignmentReference"/>'s basis over the items <paramref name="matrix"/> has interactions for.</summary>
    private void Align(FactorModel model, InteractionMatrix matrix)
    {
        if (AlignmentReference is { } reference && !ReferenceEquals(reference, model))
        {
            model.AlignTo(reference, Enumerable.Range(0, Math.Min(matrix.ItemCount, reference.ItemCount)).Where(i => matrix.ItemUsers.RowLength(i) > 0));
        }
    }

    /// <summary>Which candidates a request gets: the main ranker's, those plus the pre-ranker's sampled extras, or Retrieval's full depth.</summary>
    private enum CandidateDraw
    {
        Main,
        Training,
        Wide,
    }

    /// <summary>A request before its features: the user, candidate item indices (main ones first), the time features are read as of, labels, weights.</summary>
    private sealed record Plan(int User, int[] Candidates, int MainCount, long AsOf, float[] Labels, float[] Weights, bool WithoutSession);

    /// <summary>
    /// One request: the user, candidate item indices, row-major features, labels, weights, calibration segment; the first
    /// <paramref name="MainCount"/> candidates are the main ranker's, the rest the pre-ranker's extras.
    /// </summary>
    private sealed record Group(int User, int[] Candidates, float[] Rows, float[] Labels, float[] Weights, SegmentKey Segment, int MainCount);

    /// <summary>Latest event time (unix ms) of the interactions in <paramref name="mask"/>: the reference of the label-weight decay.</summary>
    private long LatestTime(bool[] mask)
    {
        var events = data.Events ?? throw new InvalidOperationException("The training data must keep its events.");
        var latest = 0L;
        for (var i = 0; i < mask.Length; i++)
        {
            if (mask[i])
            {
                latest = Math.Max(latest, events[i].EventTime!.Value.ToUnixTimeMilliseconds());
            }
        }

        return latest;
    }

    private async Task<List<Group>> BuildAsync(bool[] featureMask, bool[] labelMask, InteractionMatrix seen, FactorModel model, IReadOnlyList<string> columns,
        long reference, AsOfMode asOfMode, double lapsedDropout, CandidateDraw draw, CancellationToken cancellationToken)
    {
        var events = data.Events ?? throw new InvalidOperationException("The training data must keep its events.");
        var userCount = data.Users.Count;

        // Per user: the request time (first held-out event) and the held-out items with their label kind.
        var cutoff = new long[userCount];
        Array.Fill(cutoff, long.MaxValue);
        var labels = new Dictionary<int, (LabelKind Kind, long Time)>[userCount];
        for (var i = 0; i < events.Count; i++)
        {
            if (!labelMask[i])
            {
                continue;
            }

            var e = events[i];
            var interaction = data.Interactions[i];
            var ms = e.EventTime!.Value.ToUnixTimeMilliseconds();
            cutoff[interaction.User] = Math.Min(cutoff[interaction.User], ms);
            EventTypes.TryParse(e.Type, out var type);
            var kind = RankerLabeler.PositiveKind(type, e.Value) ?? LabelKind.Consumed;
            labels[interaction.User] ??= [];
            if (!labels[interaction.User].TryGetValue(interaction.Item, out var known) || Better(kind, known.Kind))
            {
                labels[interaction.User][interaction.Item] = (kind, ms);
            }
        }

        // Features see the feature part's positive events and the other events (impressions, ...) before the user's request.
        var history = new List<HistoryEvent>();
        history.AddRange(EventHistory.FromDtos(events.Where((_, i) => featureMask[i])));
        foreach (var e in EventHistory.FromDtos(otherEvents))
        {
            var before = !data.Users.TryGetIndex(e.UserId, out var u) || e.TimeMs < cutoff[u];
            if (before)
            {
                history.Add(e);
            }
        }

        var categories = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var (id, content) in data.Catalogue)
        {
            categories[id] = content.Categories;
        }

        var eventHistory = new EventHistory(history, categories)
        {
            UserEmbeddings = Embeddings(model.UserCount, model.Dimension, model.UserFactors, data.Users.IdAt),
            ItemEmbeddings = Embeddings(model.ItemCount, model.Dimension, model.ItemFactors, data.Items.IdAt),
        };
        var dataEnd = history.Count == 0 ? 0 : history.Max(h => h.TimeMs);

        var popularity = seen.ItemPopularity();
        var popular = Enumerable.Range(0, seen.ItemCount).Where(i => popularity[i] > 0)
            .OrderByDescending(i => popularity[i]).ThenBy(i => i).Take(options.RetrievalPopularDepth + 500).ToArray();

        var users = Enumerable.Range(0, userCount).Where(u => cutoff[u] != long.MaxValue && u < seen.UserCount && seen.UserItems.RowLength(u) > 0).ToList();
        // First the requests: candidates, time, labels and weights; then the features, so that the training-set API gets
        // every row of the window in one go.
        var plans = new Plan[users.Count];
        Parallel.For(0, users.Count, new ParallelOptions { CancellationToken = cancellationToken }, g =>
        {
            var u = users[g];
            var asOf = asOfMode == AsOfMode.UserCutoff ? cutoff[u] - 1 : dataEnd;
            var (candidates, mainCount) = draw switch
            {
                CandidateDraw.Wide => Deep(model, seen, popular, u),
                CandidateDraw.Training when options.PreRankerExtraCandidates > 0 => WithExtras(model, seen, popular, u, dataEnd - asOf),
                _ => Main(model, seen, popular, u),
            };
            var y = new float[candidates.Length];
            var w = new float[candidates.Length];
            var userLabels = labels[u];
            for (var c = 0; c < candidates.Length; c++)
            {
                if (userLabels is not null && userLabels.TryGetValue(candidates[c], out var label))
                {
                    y[c] = 1;
                    w[c] = options.Labels.BaseWeight(label.Kind) * options.Labels.Decay(label.Time, reference);
                }
                else
                {
                    w[c] = options.Labels.BaseWeight(LabelKind.SampledNegative) * options.Labels.Decay(cutoff[u], reference);
                }
            }

            plans[g] = new Plan(u, candidates, mainCount, asOf, y, w, ReadsAsLapsed(options.Seed, u, dataEnd - asOf, lapsedDropout));
        });

        var offsets = new int[plans.Length + 1];
        for (var g = 0; g < plans.Length; g++)
        {
            offsets[g + 1] = offsets[g] + plans[g].Candidates.Length;
        }

        TrainingSetAnswer? answer = null;
        if (TrainingSets is { } api)
        {
            var rows = new TrainingSetRow[offsets[^1]];
            for (var g = 0; g < plans.Length; g++)
            {
                var p = plans[g];
                for (var c = 0; c < p.Candidates.Length; c++)
                {
                    rows[offsets[g] + c] = new TrainingSetRow(data.Users.IdAt(p.User), data.Items.IdAt(p.Candidates[c]), p.AsOf, p.Labels[c], p.Weights[c]);
                }
            }

            answer = await api.FetchAsync(rows, WorkDirectory, cancellationToken);
        }

        var computer = new RankingRowComputer(columns);
        var groups = new Group[plans.Length];
        Parallel.For(0, plans.Length, new ParallelOptions { CancellationToken = cancellationToken }, g =>
        {
            var (u, candidates, mainCount, asOf, y, w, withoutSession) = plans[g];
            var request = eventHistory.Request(data.Users.IdAt(u), asOf, context: null, withoutSession);
            var items = candidates.Select(i => eventHistory.ItemAsOf(data.Items.IdAt(i), asOf)).ToList();
            if (answer is not null)
            {
                for (var c = 0; c < candidates.Length; c++)
                {
                    // The API's values replace the replayed ones; its label and weight are the ones trained on (a row it
                    // left out, of a deleted user, weighs nothing).
                    var row = offsets[g] + c;
                    answer.Apply(row, request.User, items[c]);
                    y[c] = answer.IsPresent(row) ? answer.Label(row) : 0;
                    w[c] = answer.IsPresent(row) ? answer.Weight(row) : 0;
                }
            }

            if (withoutSession)
            {
                // After the API's values: a lapsed user's latest event lies beyond the days-since cap.
                request.User.SetNumber(RankingFeatureCatalog.UserLastEventMs, asOf - LapsedMs);
            }

            var rows = new float[candidates.Length * computer.Width];
            computer.Compute(request, items, rows);
            groups[g] = new Group(u, candidates, rows, y, w, RankingSegments.Of(request), mainCount);
        });

        return [.. groups];
    }

    private static RankerGroupSet Assemble(List<Group> groups, IReadOnlyList<string> columns, FactorModel? model)
    {
        var data = ToDataset(groups, columns, mainOnly: true);
        var preRankData = groups.All(g => g.MainCount == g.Candidates.Length) ? data : ToDataset(groups, columns, mainOnly: false);
        return new RankerGroupSet(data, preRankData, [.. groups.Select(g => g.User)], [.. groups.Select(g => g.Candidates[..g.MainCount])], model,
            groups.Count(g => g.Labels.AsSpan(0, g.MainCount).ContainsAnyExcept(0f)));
    }

    /// <summary>The groups as one dataset: each group's main candidates, or all of its candidates.</summary>
    private static RankingDataset ToDataset(List<Group> groups, IReadOnlyList<string> columns, bool mainOnly)
    {
        var width = columns.Count;
        var totalRows = groups.Sum(g => mainOnly ? g.MainCount : g.Candidates.Length);
        var features = new float[totalRows * width];
        var allLabels = new float[totalRows];
        var allWeights = new float[totalRows];
        var groupIds = new int[totalRows];
        var segments = new SegmentKey[totalRows];
        var at = 0;
        for (var g = 0; g < groups.Count; g++)
        {
            var group = groups[g];
            var n = mainOnly ? group.MainCount : group.Candidates.Length;
            group.Rows.AsSpan(0, n * width).CopyTo(features.AsSpan(at * width));
            group.Labels.AsSpan(0, n).CopyTo(allLabels.AsSpan(at));
            group.Weights.AsSpan(0, n).CopyTo(allWeights.AsSpan(at));
            groupIds.AsSpan(at, n).Fill(g);
            segments.AsSpan(at, n).Fill(group.Segment);
            at += n;
        }

        return new RankingDataset(columns, features, allLabels, allWeights, groupIds, segments);
    }

    /// <summary>The main ranker's candidates: the ALS top <see cref="RankerTrainingOptions.AlsCandidates"/>, then popular unseen items.</summary>
    private (int[] Candidates, int MainCount) Main(FactorModel model, InteractionMatrix seen, int[] popular, int user)
    {
        var list = Candidates(model, seen, popular, user);
        return (list, list.Length);
    }

    /// <summary>
    /// The main candidates followed by <see cref="RankerTrainingOptions.PreRankerExtraCandidates"/> drawn without replacement from
    /// the deeper ALS and popular ranks Retrieval also returns (seeded by the seed, user and request time).
    /// </summary>
    private (int[] Candidates, int MainCount) WithExtras(FactorModel model, InteractionMatrix seen, int[] popular, int user, long msBeforeDataEnd)
    {
        var main = Candidates(model, seen, popular, user);
        var (deep, _) = Deep(model, seen, popular, user);
        var taken = main.ToHashSet();
        var pool = deep.Where(i => !taken.Contains(i)).ToArray();
        var random = new Random((int)(Mix(options.Seed ^ 0x5EED, user, msBeforeDataEnd) >> 33));
        random.Shuffle(pool);
        return ([.. main, .. pool.AsSpan(0, Math.Min(pool.Length, options.PreRankerExtraCandidates))], main.Length);
    }

    /// <summary>As deep as Retrieval's collaborative and trending sources reach: the ALS top RetrievalAlsDepth, then popular unseen items.</summary>
    private (int[] Candidates, int MainCount) Deep(FactorModel model, InteractionMatrix seen, int[] popular, int user)
    {
        var list = model.Recommend(user, options.RetrievalAlsDepth, seen.UserItems).Select(s => s.Item).ToList();
        var taken = list.ToHashSet();
        var unseenPopular = 0;
        foreach (var item in popular)
        {
            if (unseenPopular == options.RetrievalPopularDepth)
            {
                break;
            }

            if (!seen.UserItems.Contains(user, item))
            {
                unseenPopular++;
                if (taken.Add(item))
                {
                    list.Add(item);
                }
            }
        }

        return ([.. list], list.Count);
    }

    private int[] Candidates(FactorModel model, InteractionMatrix seen, int[] popular, int user)
    {
        var list = model.Recommend(user, options.AlsCandidates, seen.UserItems).Select(s => s.Item).ToList();
        var taken = list.ToHashSet();
        var added = 0;
        foreach (var item in popular)
        {
            if (added == options.PopularCandidates)
            {
                break;
            }

            if (!seen.UserItems.Contains(user, item) && taken.Add(item))
            {
                list.Add(item);
                added++;
            }
        }

        return [.. list];
    }

    /// <summary>
    /// Whether the request of <paramref name="user"/> made <paramref name="msBeforeDataEnd"/> before the data's end is read as
    /// lapsed: a SplitMix64 hash, stable across runs, threads and shifts of the whole log in time.
    /// </summary>
    internal static bool ReadsAsLapsed(int seed, int user, long msBeforeDataEnd, double share)
    {
        if (share <= 0)
        {
            return false;
        }

        return (Mix(seed, user, msBeforeDataEnd) >> 11) * (1.0 / (1UL << 53)) < share;
    }

    /// <summary>A SplitMix64 hash of (seed, user, time): stable across runs and threads (HashCode is randomized per process).</summary>
    private static ulong Mix(int seed, int user, long time)
    {
        var z = unchecked(((ulong)(uint)seed << 32) ^ (ulong)(uint)user ^ ((ulong)time * 0x9E3779B97F4A7C15UL));
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }

    private static bool Better(LabelKind candidate, LabelKind known) => candidate == LabelKind.Engaged && known != LabelKind.Engaged;

    private static Dictionary<string, float[]> Embeddings(int count, int dimension, float[] factors, Func<int, string> id)
    {
        var map = new Dictionary<string, float[]>(count, StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            map[id(i)] = factors.AsSpan(i * dimension, dimension).ToArray();
        }

        return map;
    }
}
