namespace RecSys.Ranking.Features;

/// <summary>
/// The user-side inputs of a request, derived once and shared by every candidate's row: activity, the user's embedding, the
/// recent and session items' categories, popularity and unit embeddings.
/// </summary>
public sealed class RequestSide
{
    private readonly float[]? _user;
    private readonly HashSet<string>[] _recentCategories;
    private readonly HashSet<string>[] _sessionCategories;
    private readonly float[][] _recentUnit;
    private readonly float[]? _recentMean;
    private readonly float[]? _sessionMean;

    public RequestSide(RankingRequestValues request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var user = request.User;
        LogEvents = RankingFeatureCatalog.Log1p(user, RankingFeatureCatalog.UserEventsTotal);
        LogEngagement = RankingFeatureCatalog.Log1p(user, RankingFeatureCatalog.UserEngagementTotal);
        DaysSinceLastEvent = user.TryNumber(RankingFeatureCatalog.UserLastEventMs, out var last) && last > 0
            ? RankingFeatureCatalog.Days((long)last, request.RequestTimeMs)
            : null;
        _user = user.Vector(RankingFeatureCatalog.UserEmbedding);
        UserNorm = _user is null ? null : Norm(_user);

        var recent = user.Ids(RankingFeatureCatalog.UserRecentItems);
        var session = user.Ids(RankingFeatureCatalog.UserSessionItems);
        RecentCount = recent?.Count;
        SessionCount = session?.Count ?? (user.Count > 0 ? 0 : null);
        _recentCategories = Categories(recent, request.ContextItems);
        _sessionCategories = Categories(session, request.ContextItems);
        _recentUnit = UnitEmbeddings(recent, request.ContextItems, RankingFeatureCatalog.RecentItemsCompared);
        _recentMean = Mean(_recentUnit);
        _sessionMean = Mean(UnitEmbeddings(session, request.ContextItems, int.MaxValue));
        if (session is { Count: > 0 })
        {
            double sum = 0;
            var known = 0;
            foreach (var id in session)
            {
                if (request.ContextItems.TryGetValue(id, out var values) && RankingFeatureCatalog.Log1p(values, RankingFeatureCatalog.ItemPopularity) is { } p)
                {
                    sum += p;
                    known++;
                }
            }

            SessionMeanLogPopularity = known > 0 ? (float)(sum / known) : null;
        }
    }

    public float? LogEvents { get; }

    public float? LogEngagement { get; }

    public float? DaysSinceLastEvent { get; }

    public float? UserNorm { get; }

    public float? RecentCount { get; }

    public float? SessionCount { get; }

    public float? SessionMeanLogPopularity { get; }

    public float? Dot(EntityValues item) =>
        _user is { } u && item.Vector(RankingFeatureCatalog.ItemEmbedding) is { } v && v.Length == u.Length ? DotProduct(u, v) : null;

    public float? Cosine(EntityValues item) =>
        _user is { } u && item.Vector(RankingFeatureCatalog.ItemEmbedding) is { } v && v.Length == u.Length ? CosineOf(u, v) : null;

    public float? RecentCategoryMatch(EntityValues item) => CategoryMatch(_recentCategories, item);

    public float? SessionCategoryMatch(EntityValues item) => CategoryMatch(_sessionCategories, item);

    public float? RecentMeanSimilarity(EntityValues item) =>
        _recentMean is { } mean && item.Vector(RankingFeatureCatalog.ItemEmbedding) is { } v && v.Length == mean.Length ? CosineOf(mean, v) : null;

    public float? SessionMeanSimilarity(EntityValues item) =>
        _sessionMean is { } mean && item.Vector(RankingFeatureCatalog.ItemEmbedding) is { } v && v.Length == mean.Length ? CosineOf(mean, v) : null;

    public float? RecentMaxSimilarity(EntityValues item) => RecentTopSimilarity(item, 1);

    /// <summary>Mean of the <paramref name="top"/> largest cosines of the item with the recent items' embeddings.</summary>
    public float? RecentTopSimilarity(EntityValues item, int top)
    {
        if (_recentUnit.Length == 0 || item.Vector(RankingFeatureCatalog.ItemEmbedding) is not { } v)
        {
            return null;
        }

        var norm = Norm(v);
        if (norm == 0)
        {
            return 0;
        }

        Span<float> best = stackalloc float[top];
        best.Fill(float.NegativeInfinity);
        var count = 0;
        foreach (var unit in _recentUnit)
        {
            if (unit.Length != v.Length)
            {
                continue;
            }

            var cosine = DotProduct(unit, v) / norm;
            count++;
            // Insertion into the small descending buffer.
            for (var k = 0; k < top; k++)
            {
                if (cosine > best[k])
                {
                    for (var m = top - 1; m > k; m--)
                    {
                        best[m] = best[m - 1];
                    }

                    best[k] = cosine;
                    break;
                }
            }
        }

        if (count == 0)
        {
            return null;
        }

        var used = Math.Min(top, count);
        var sum = 0f;
        for (var k = 0; k < used; k++)
        {
            sum += best[k];
        }

        return sum / used;
    }

    public static float Norm(ReadOnlySpan<float> v) => MathF.Sqrt(DotProduct(v, v));

    private static float DotProduct(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        // Sequential in double: the same sum on every machine and in both paths (no width-dependent SIMD reassociation).
        double sum = 0;
        for (var i = 0; i < a.Length; i++)
        {
            sum += (double)a[i] * b[i];
        }

        return (float)sum;
    }

    private static float CosineOf(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var na = Norm(a);
        var nb = Norm(b);
        return na == 0 || nb == 0 ? 0 : DotProduct(a, b) / (na * nb);
    }

    private static float? CategoryMatch(HashSet<string>[] consumed, EntityValues item)
    {
        if (consumed.Length == 0 || item.Ids(RankingFeatureCatalog.ItemCategories) is not { } categories)
        {
            return null;
        }

        // Indexed loops: a foreach over the IReadOnlyList would allocate an enumerator per candidate.
        var matches = 0;
        foreach (var set in consumed)
        {
            for (var k = 0; k < categories.Count; k++)
            {
                if (set.Contains(categories[k]))
                {
                    matches++;
                    break;
                }
            }
        }

        return (float)matches / consumed.Length;
    }

    private static HashSet<string>[] Categories(IReadOnlyList<string>? ids, IReadOnlyDictionary<string, EntityValues> items)
    {
        if (ids is null)
        {
            return [];
        }

        var sets = new List<HashSet<string>>(ids.Count);
        foreach (var id in ids)
        {
            if (items.TryGetValue(id, out var values) && values.Ids(RankingFeatureCatalog.ItemCategories) is { } categories)
            {
                sets.Add(new HashSet<string>(categories, StringComparer.Ordinal));
            }
        }

        return [.. sets];
    }

    private static float[][] UnitEmbeddings(IReadOnlyList<string>? ids, IReadOnlyDictionary<string, EntityValues> items, int limit)
    {
        if (ids is null)
        {
            return [];
        }

        var list = new List<float[]>();
        foreach (var id in ids)
        {
            if (list.Count == limit)
            {
                break;
            }

            if (items.TryGetValue(id, out var values) && values.Vector(RankingFeatureCatalog.ItemEmbedding) is { } v && Norm(v) is var n and > 0)
            {
                var unit = new float[v.Length];
                for (var i = 0; i < v.Length; i++)
                {
                    unit[i] = v[i] / n;
                }

                list.Add(unit);
            }
        }

        return [.. list];
    }

    private static float[]? Mean(float[][] vectors)
    {
        if (vectors.Length == 0)
        {
            return null;
        }

        var width = vectors[0].Length;
        var mean = new float[width];
        var used = 0;
        foreach (var v in vectors)
        {
            if (v.Length != width)
            {
                continue;
            }

            for (var i = 0; i < width; i++)
            {
                mean[i] += v[i];
            }

            used++;
        }

        for (var i = 0; i < width; i++)
        {
            mean[i] /= used;
        }

        return mean;
    }
}
