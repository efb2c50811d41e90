using System.Runtime.Intrinsics;

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

    // The same computations over an item's embedding given as a span with its norm (the item table's columns): the arithmetic is
    // the methods' above, through the same helpers, so that a row is the same bit for bit whichever form the item comes in.
    /// <summary>
    /// The item embedding's dot products with the user's embedding and with the recent items' mean, in one pass: two
    /// independent sums (they overlap in the pipeline), each added in <see cref="DotProduct"/>'s order, so each is its value.
    /// </summary>
    internal ItemDots DotsWith(ReadOnlySpan<float> v, float norm)
    {
        var user = _user is { } u && v.Length == u.Length ? u : null;
        var recent = _recentMean is { } m && v.Length == m.Length ? m : null;
        if (user is not null && recent is not null)
        {
            double su = 0, sr = 0;
            for (var i = 0; i < v.Length; i++)
            {
                su += (double)user[i] * v[i];
                sr += (double)recent[i] * v[i];
            }

            return new ItemDots((float)su, (float)sr, norm);
        }

        return new ItemDots(user is null ? null : DotProduct(user, v), recent is null ? null : DotProduct(recent, v), norm);
    }

    /// <summary><see cref="Dot"/> from the item's <see cref="ItemDots"/>.</summary>
    internal static float? DotOf(in ItemDots dots) => dots.User;

    /// <summary><see cref="Cosine"/> from the item's <see cref="ItemDots"/> (the arithmetic of the cosine of two vectors with their norms).</summary>
    internal float? CosineOf(in ItemDots dots) => dots.User is { } dot ? (_userNorm == 0 || dots.Norm == 0 ? 0 : dot / (_userNorm * dots.Norm)) : null;

    /// <summary><see cref="RecentMeanSimilarity"/> from the item's <see cref="ItemDots"/>.</summary>
    internal float? RecentMeanSimilarityOf(in ItemDots dots) =>
        dots.Recent is { } dot ? (_recentMeanNorm == 0 || dots.Norm == 0 ? 0 : dot / (_recentMeanNorm * dots.Norm)) : null;

    /// <summary>An item embedding's dot products with the request's vectors (null where the widths differ or the vector is absent) and its norm.</summary>
    internal readonly record struct ItemDots(float? User, float? Recent, float Norm);

    internal float? SessionMeanSimilarityWith(ReadOnlySpan<float> v, float norm) =>
        _sessionMean is { } mean && v.Length == mean.Length ? CosineOf(mean, _sessionMeanNorm, v, norm) : null;

    /// <summary>The recent items' category sets by the item table's category numbers (<see cref="CategoryMatcher"/>).</summary>
    internal CategoryMatcher RecentCategoriesBy(IReadOnlyDictionary<string, int> numbers, int count) => _recentCategories.By(numbers, count);

    /// <summary>The session items' category sets by the item table's category numbers.</summary>
    internal CategoryMatcher SessionCategoriesBy(IReadOnlyDictionary<string, int> numbers, int count) => _sessionCategories.By(numbers, count);

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
            InsertDescending(best, cosine);
        }

        return count == 0 ? null : MeanOfBest(best, top, count);
    }

    /// <summary>
    /// The recent items' unit embeddings of width <paramref name="width"/>, in their order, laid out for
    /// <see cref="RecentTopWith"/>; built once per request. Units of another width are left out: no item of that width meets them.
    /// </summary>
    internal RecentUnits RecentUnitsOfWidth(int width) => new(_recentUnit, width);

    /// <summary>
    /// <see cref="RecentMaxSimilarity"/> and <c>RecentTopSimilarity(item, 3)</c> of an item embedding of the units' width given
    /// with its norm, from one set of cosines: the same cosines (each sum in <see cref="DotProduct"/>'s order and precision, the
    /// units' sums side by side in vector lanes), met in the same order by the same insertion, so both values are the methods'
    /// bit for bit. The largest of three kept is the largest of one kept: the first slot sees the same comparisons either way.
    /// </summary>
    internal RecentTop RecentTopWith(RecentUnits units, ReadOnlySpan<float> v, float norm)
    {
        if (_recentUnit.Length == 0)
        {
            return default;
        }

        if (norm == 0)
        {
            return new RecentTop(0, 0);
        }

        if (units.Count == 0 || v.Length != units.Width)
        {
            return default;
        }

        Span<double> sums = units.Lanes <= 64 ? stackalloc double[units.Lanes] : new double[units.Lanes];
        units.Dots(v, sums);
        const int Top = 3;
        Span<float> best = stackalloc float[Top];
        best.Fill(float.NegativeInfinity);
        for (var j = 0; j < units.Count; j++)
        {
            var cosine = (float)sums[j] / norm;
            InsertDescending(best, cosine);
        }

        return new RecentTop(MeanOfBest(best, 1, units.Count), MeanOfBest(best, Top, units.Count));
    }

    /// <summary>Inserts <paramref name="value"/> into the descending buffer <paramref name="best"/>, dropping its smallest entry.</summary>
    private static void InsertDescending(Span<float> best, float value)
    {
        for (var k = 0; k < best.Length; k++)
        {
            if (value > best[k])
            {
                for (var m = best.Length - 1; m > k; m--)
                {
                    best[m] = best[m - 1];
                }

                best[k] = value;
                return;
            }
        }
    }

    /// <summary>The tail of <see cref="RecentTopSimilarity"/>: the mean of the first min(top, count) of the descending buffer.</summary>
    private static float MeanOfBest(ReadOnlySpan<float> best, int top, int count)
    {
        var used = Math.Min(top, count);
        var sum = 0f;
        for (var k = 0; k < used; k++)
        {
            sum += best[k];
        }

        return sum / used;
    }

    /// <summary>An item's <c>recent_similarity_max</c> and <c>recent_similarity_top3</c> (null where the methods give null).</summary>
    internal readonly record struct RecentTop(float? Max, float? Top3);

    /// <summary>
    /// Recent unit embeddings of one width, transposed: coordinate i of unit j at [i * Lanes + j], in double (the precision
    /// <see cref="DotProduct"/> sums in), lanes past the units zero. An item's dot products with all units are then one
    /// broadcast of each coordinate and a multiply and an add per group of lanes, in coordinate order as the scalar loop adds.
    /// </summary>
    internal sealed class RecentUnits
    {
        private readonly double[] _transposed;

        public RecentUnits(float[][] units, int width)
        {
            ArgumentNullException.ThrowIfNull(units);
            var count = 0;
            foreach (var unit in units)
            {
                count += unit.Length == width ? 1 : 0;
            }

            Width = width;
            Count = count;
            Lanes = (count + 3) & ~3;
            _transposed = new double[width * Lanes];
            var j = 0;
            foreach (var unit in units)
            {
                if (unit.Length != width)
                {
                    continue;
                }

                for (var i = 0; i < width; i++)
                {
                    _transposed[(i * Lanes) + j] = unit[i];
                }

                j++;
            }
        }

        public int Width { get; }

        /// <summary>Units of this width, in the recent items' order.</summary>
        public int Count { get; }

        /// <summary><see cref="Count"/> rounded up to a multiple of 4.</summary>
        public int Lanes { get; }

        /// <summary>
        /// sums[j] = the sum over i of (double)unit_j[i] * v[i], added in order of i from zero: <see cref="DotProduct"/>'s value for
        /// each unit. Products and sums are separate operations (no fused multiply-add), so every lane rounds as the scalar loop.
        /// </summary>
        public void Dots(ReadOnlySpan<float> v, Span<double> sums)
        {
            if (v.Length != Width || sums.Length < Lanes)
            {
                throw new ArgumentException("The vector's width or the sums' length does not fit these units.");
            }

            var t = _transposed;
            if (Vector256.IsHardwareAccelerated)
            {
                for (var g = 0; g < Lanes; g += 4)
                {
                    var acc = Vector256<double>.Zero;
                    for (var i = 0; i < v.Length; i++)
                    {
                        acc = Vector256.Add(acc, Vector256.Multiply(Vector256.Create(t, (i * Lanes) + g), Vector256.Create((double)v[i])));
                    }

                    acc.CopyTo(sums[g..]);
                }

                return;
            }

            for (var j = 0; j < Lanes; j++)
            {
                double sum = 0;
                for (var i = 0; i < v.Length; i++)
                {
                    sum += t[(i * Lanes) + j] * v[i];
                }

                sums[j] = sum;
            }
        }
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

        /// <summary>These masks keyed by category number instead of name (categories no set holds have none).</summary>
        public CategoryMatcher By(IReadOnlyDictionary<string, int> numbers, int count)
        {
            var masks = new Dictionary<int, ulong[]>(_masks.Count);
            foreach (var (category, mask) in _masks)
            {
                if (numbers.TryGetValue(category, out var number))
                {
                    masks[number] = mask;
                }
            }

            return new CategoryMatcher(_count, _words, masks, count);
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

    /// <summary>
    /// <see cref="CategorySets"/> over category numbers: a candidate's categories as numbers of the item table's snapshot, the
    /// sets' masks by number (in arrays, or in a dictionary when the snapshot knows very many categories). The count is the population count of the union of the masks of the candidate's
    /// categories, as <see cref="CategorySets"/> computes it from the names.
    /// </summary>
    internal sealed class CategoryMatcher
    {
        /// <summary>Up to this many category numbers the masks are kept in arrays by number; beyond, in a dictionary (per request).</summary>
        private const int MaxArrayCategories = 4096;

        private readonly int _count;
        private readonly int _words;

        // One of three forms: single-word masks by number (0: no set holds it), masks by number, or masks by number in a dictionary.
        private readonly ulong[]? _single;
        private readonly ulong[]?[]? _byNumber;
        private readonly Dictionary<int, ulong[]>? _byNumberSparse;

        public CategoryMatcher(int count, int words, Dictionary<int, ulong[]> masks, int categories)
        {
            _count = count;
            _words = words;
            if (count == 0)
            {
                return;
            }

            if (categories > MaxArrayCategories)
            {
                _byNumberSparse = masks;
            }
            else if (words == 1)
            {
                _single = new ulong[categories];
                foreach (var (number, mask) in masks)
                {
                    _single[number] = mask[0];
                }
            }
            else
            {
                _byNumber = new ulong[]?[categories];
                foreach (var (number, mask) in masks)
                {
                    _byNumber[number] = mask;
                }
            }
        }

        /// <summary>The share of sets matching the categories; null without sets or without categories (<paramref name="present"/> false).</summary>
        public float? Match(ReadOnlySpan<int> categories, bool present)
        {
            if (_count == 0 || !present)
            {
                return null;
            }

            var matches = 0;
            if (_single is { } single)
            {
                var union = 0UL;
                foreach (var category in categories)
                {
                    union |= single[category];
                }

                matches = System.Numerics.BitOperations.PopCount(union);
            }
            else
            {
                Span<ulong> union = _words <= 16 ? stackalloc ulong[_words] : new ulong[_words];
                foreach (var category in categories)
                {
                    var mask = _byNumber is { } byNumber ? byNumber[category] : _byNumberSparse!.GetValueOrDefault(category);
                    if (mask is not null)
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
