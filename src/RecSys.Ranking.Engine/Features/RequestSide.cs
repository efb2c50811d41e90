namespace RecSys.Ranking.Features;

/// <summary>
/// The user-side inputs of a request, derived once and shared by every candidate's row: activity, the user's embedding, the
/// recent and session items' categories, popularity and unit embeddings.
/// </summary>
public sealed class RequestSide
{
    /// <summary>The side of a request with no user values: what the item-only features are precomputed with (they do not read it).</summary>
    public static RequestSide None { get; } = new(new RankingRequestValues(new EntityValues(), new Dictionary<string, EntityValues>(StringComparer.Ordinal), 0, null));

    private readonly float[]? _user;
    private readonly CategorySets _recentCategories;
    private readonly CategorySets _sessionCategories;
    private readonly float[][] _recentUnit;
    private readonly float[]? _recentMean;
    private readonly float[]? _sessionMean;

    // Norms of the request's own vectors, computed once rather than per candidate (the same value either way).
    private readonly float _userNorm;
    private readonly float _recentMeanNorm;
    private readonly float _sessionMeanNorm;

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
        _userNorm = UserNorm ?? 0;

        var recent = user.Ids(RankingFeatureCatalog.UserRecentItems);
        var session = user.Ids(RankingFeatureCatalog.UserSessionItems);
        RecentCount = recent?.Count;
        SessionCount = session?.Count ?? (user.Count > 0 ? 0 : null);
        _recentCategories = Categories(recent, request.ContextItems);
        _sessionCategories = Categories(session, request.ContextItems);
        _recentUnit = UnitEmbeddings(recent, request.ContextItems, RankingFeatureCatalog.RecentItemsCompared);
        _recentMean = Mean(_recentUnit);
        _sessionMean = Mean(UnitEmbeddings(session, request.ContextItems, int.MaxValue));
        _recentMeanNorm = _recentMean is null ? 0 : Norm(_recentMean);
        _sessionMeanNorm = _sessionMean is null ? 0 : Norm(_sessionMean);
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
        _user is { } u && item.Vector(RankingFeatureCatalog.ItemEmbedding) is { } v && v.Length == u.Length
            ? CosineOf(u, _userNorm, v, item.VectorNorm(RankingFeatureCatalog.ItemEmbedding, v))
            : null;

    /// <summary>The user's embedding coordinate <paramref name="dimension"/> times the item's; null when either embedding is missing or they differ in length, 0 past their length.</summary>
    public float? EmbeddingProduct(EntityValues item, int dimension) =>
        _user is { } u && item.Vector(RankingFeatureCatalog.ItemEmbedding) is { } v && v.Length == u.Length
            ? dimension < u.Length ? u[dimension] * v[dimension] : 0
            : null;

    public float? RecentCategoryMatch(EntityValues item) => _recentCategories.Match(item);

    public float? SessionCategoryMatch(EntityValues item) => _sessionCategories.Match(item);

    public float? RecentMeanSimilarity(EntityValues item) =>
        _recentMean is { } mean && item.Vector(RankingFeatureCatalog.ItemEmbedding) is { } v && v.Length == mean.Length
            ? CosineOf(mean, _recentMeanNorm, v, item.VectorNorm(RankingFeatureCatalog.ItemEmbedding, v))
            : null;

    public float? SessionMeanSimilarity(EntityValues item) =>
        _sessionMean is { } mean && item.Vector(RankingFeatureCatalog.ItemEmbedding) is { } v && v.Length == mean.Length
            ? CosineOf(mean, _sessionMeanNorm, v, item.VectorNorm(RankingFeatureCatalog.ItemEmbedding, v))
            : null;

    public float? RecentMaxSimilarity(EntityValues item) => RecentTopSimilarity(item, 1);

    /// <summary>Mean of the <paramref name="top"/> largest cosines of the item with the recent items' embeddings.</summary>
    public float? RecentTopSimilarity(EntityValues item, int top)
    {
        if (_recentUnit.Length == 0 || item.Vector(RankingFeatureCatalog.ItemEmbedding) is not { } v)
        {
            return null;
        }

        var norm = item.VectorNorm(RankingFeatureCatalog.ItemEmbedding, v);
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

    /// <summary>Cosine with both norms given (each computed by <see cref="Norm"/>): the value of computing them here.</summary>
    private static float CosineOf(ReadOnlySpan<float> a, float na, ReadOnlySpan<float> b, float nb) =>
        na == 0 || nb == 0 ? 0 : DotProduct(a, b) / (na * nb);

    private static CategorySets Categories(IReadOnlyList<string>? ids, IReadOnlyDictionary<string, EntityValues> items)
    {
        if (ids is null)
        {
            return CategorySets.None;
        }

        var sets = new List<IReadOnlyList<string>>(ids.Count);
        foreach (var id in ids)
        {
            if (items.TryGetValue(id, out var values) && values.Ids(RankingFeatureCatalog.ItemCategories) is { } categories)
            {
                sets.Add(categories);
            }
        }

        return new CategorySets(sets);
    }

    /// <summary>
    /// The category sets of the user's consumed items, inverted once per request: for each category, a bit mask of the sets
    /// holding it. A candidate's match count (sets sharing at least one of its categories) is then the population count of
    /// the union of its categories' masks: one lookup per category of the candidate instead of one per set and category.
    /// </summary>
    private sealed class CategorySets
    {
        public static readonly CategorySets None = new([]);

        private readonly int _count;
        private readonly int _words;
        private readonly Dictionary<string, ulong[]> _masks = new(StringComparer.Ordinal);

        public CategorySets(List<IReadOnlyList<string>> sets)
        {
            _count = sets.Count;
            _words = (sets.Count + 63) / 64;
            for (var s = 0; s < sets.Count; s++)
            {
                foreach (var category in sets[s])
                {
                    if (!_masks.TryGetValue(category, out var mask))
                    {
                        _masks[category] = mask = new ulong[_words];
                    }

                    mask[s / 64] |= 1UL << (s % 64);
                }
            }
        }

        public float? Match(EntityValues item)
        {
            if (_count == 0 || item.Ids(RankingFeatureCatalog.ItemCategories) is not { } categories)
            {
                return null;
            }

            // Indexed loops: a foreach over the IReadOnlyList would allocate an enumerator per candidate.
            var matches = 0;
            if (_words == 1)
            {
                var union = 0UL;
                for (var k = 0; k < categories.Count; k++)
                {
                    if (_masks.TryGetValue(categories[k], out var mask))
                    {
                        union |= mask[0];
                    }
                }

                matches = System.Numerics.BitOperations.PopCount(union);
            }
            else
            {
                Span<ulong> union = _words <= 16 ? stackalloc ulong[_words] : new ulong[_words];
                for (var k = 0; k < categories.Count; k++)
                {
                    if (_masks.TryGetValue(categories[k], out var mask))
                    {
                        for (var w = 0; w < _words; w++)
                        {
                            union[w] |= mask[w];
                        }
                    }
                }

                foreach (var word in union)
                {
                    matches += System.Numerics.BitOperations.PopCount(word);
                }
            }

            return (float)matches / _count;
        }
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
