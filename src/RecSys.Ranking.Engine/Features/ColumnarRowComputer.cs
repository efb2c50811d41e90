namespace RecSys.Ranking.Features;

/// <summary>
/// <see cref="RankingRowComputer"/>'s rows for candidates of the item table, computed from the snapshot's
/// <see cref="ItemColumns"/>: item-only features are the records' cells, features of the user alone are computed once per
/// request, the embedding and category features run over the record (the same <see cref="RequestSide"/> arithmetic on a span);
/// any other feature of the catalog, and any item whose record is not regular, goes through the catalog's own function of the
/// item's values, as the general path does. Every cell is the general path's, bit for bit (the tests compare them).
/// </summary>
internal sealed class ColumnarRowComputer
{
    // Features that read only the request side: one value per request. A feature not listed here (or below) is computed per
    // row by its own function, so a feature added to the catalog is served correctly before anyone lists it.
    private static readonly HashSet<string> UserOnly = new(StringComparer.Ordinal)
    {
        "user_log_events", "user_log_engagement", "user_log_days_since_last_event", "user_embedding_norm", "recent_item_log_count",
        "session_interaction_count", "session_avg_log_popularity",
    };

    private static readonly Dictionary<string, Kind> ByName = new(StringComparer.Ordinal)
    {
        ["als_score"] = Kind.Dot,
        ["als_cosine"] = Kind.Cosine,
        ["recent_similarity_mean"] = Kind.RecentMean,
        ["session_similarity_mean"] = Kind.SessionMean,
        ["recent_category_match"] = Kind.RecentCategories,
        ["session_category_match"] = Kind.SessionCategories,
        ["recent_similarity_max"] = Kind.RecentMax,
        ["recent_similarity_top3"] = Kind.RecentTop3,
        ["als_score_x_user_activity"] = Kind.DotTimesActivity,
        ["popularity_x_user_activity"] = Kind.ItemCellTimesActivity,
        ["session_popularity_gap"] = Kind.ItemCellMinusSessionPopularity,
    };

    // The item-only feature each of those item-cell kinds reads (its catalog function is the one the feature calls): a cell that
    // was defaulted there stands for a missing or non-finite value, for which the feature's own arithmetic gives no finite value either.
    private static readonly Dictionary<Kind, string> ItemCellOf = new()
    {
        [Kind.ItemCellTimesActivity] = "item_log_engagement",
        [Kind.ItemCellMinusSessionPopularity] = "item_log_popularity",
    };

    private readonly Column[] _columns;

    public ColumnarRowComputer(RankingRowComputer general)
    {
        ArgumentNullException.ThrowIfNull(general);
        General = general;
        var features = RankingFeatureCatalog.Resolve(general.Columns);
        _columns = new Column[features.Length];
        for (var c = 0; c < features.Length; c++)
        {
            var feature = features[c];
            var kind = feature.ItemSlot >= 0 ? Kind.ItemSlot
                : UserOnly.Contains(feature.Name) ? Kind.User
                : ByName.GetValueOrDefault(feature.Name, Kind.General);
            var slot = feature.ItemSlot;
            if (ItemCellOf.TryGetValue(kind, out var cellName))
            {
                slot = RankingFeatureCatalog.TryGet(cellName, out var cell) && cell.ItemSlot >= 0 ? cell.ItemSlot : -1;
                kind = slot >= 0 ? kind : Kind.General;
            }

            _columns[c] = new Column(kind, slot, feature);
        }
    }

    public RankingRowComputer General { get; }

    public int Width => _columns.Length;

    private enum Kind
    {
        General,
        ItemSlot,
        User,
        Dot,
        Cosine,
        RecentMean,
        SessionMean,
        RecentCategories,
        SessionCategories,
        RecentMax,
        RecentTop3,
        DotTimesActivity,
        ItemCellTimesActivity,
        ItemCellMinusSessionPopularity,
    }

    private readonly record struct Column(Kind Kind, int Slot, RankingFeature Feature);

    /// <summary>What a request's rows share: the request side, its per-request cells and category masks by number.</summary>
    public RequestColumns Begin(RequestSide side, ItemFeatureSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(side);
        ArgumentNullException.ThrowIfNull(snapshot);
        var columns = snapshot.Columns ?? throw new ArgumentException("The snapshot has no item columns.", nameof(snapshot));
        var cells = new float[_columns.Length];
        var defaulted = new int[_columns.Length];
        RequestSide.CategoryMatcher? recent = null, session = null;
        RequestSide.RecentUnits? recentUnits = null;
        for (var c = 0; c < _columns.Length; c++)
        {
            switch (_columns[c].Kind)
            {
                case Kind.User:
                    var feature = _columns[c].Feature;
                    if (feature.Compute(side, EntityValues.Empty) is { } value && float.IsFinite(value))
                    {
                        cells[c] = value;
                    }
                    else
                    {
                        cells[c] = feature.Default;
                        defaulted[c] = 1;
                    }

                    break;
                case Kind.RecentCategories:
                    recent ??= side.RecentCategoriesBy(columns.CategoryNumbers, columns.CategoryNumbers.Count);
                    break;
                case Kind.SessionCategories:
                    session ??= side.SessionCategoriesBy(columns.CategoryNumbers, columns.CategoryNumbers.Count);
                    break;
                case Kind.RecentMax or Kind.RecentTop3:
                    recentUnits ??= side.RecentUnitsOfWidth(columns.Dimension);
                    break;
            }
        }

        return new RequestColumns(side, snapshot, columns, cells, defaulted, recent, session, recentUnits);
    }

    /// <summary>
    /// Writes columns [<paramref name="from"/>, <paramref name="to"/>) of item <paramref name="number"/>'s row (a number of the
    /// request's snapshot); returns how many were defaulted. Allocates nothing.
    /// </summary>
    public int ComputeRow(RequestColumns request, int number, Span<float> row, int from, int to)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfNegative(from);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(to, _columns.Length);
        var side = request.Side;
        var record = request.Columns[number];
        if (!record.IsRegular)
        {
            return General.ComputeRow(side, request.Snapshot.ValuesAt(number), row, from, to);
        }

        var defaulted = 0;
        RequestSide.ItemDots? dots = null;
        RequestSide.RecentTop? top = null;
        for (var c = from; c < to; c++)
        {
            var column = _columns[c];
            float? computed;
            switch (column.Kind)
            {
                case Kind.ItemSlot:
                    row[c] = record.Cell(column.Slot);
                    defaulted += record.Defaulted(column.Slot);
                    continue;
                case Kind.User:
                    row[c] = request.Cells[c];
                    defaulted += request.CellDefaulted[c];
                    continue;
                case Kind.Dot:
                    computed = record.HasEmbedding ? RequestSide.DotOf(dots ??= side.DotsWith(record.Embedding, record.Norm)) : null;
                    break;
                case Kind.Cosine:
                    computed = record.HasEmbedding ? side.CosineOf(dots ??= side.DotsWith(record.Embedding, record.Norm)) : null;
                    break;
                case Kind.RecentMean:
                    computed = record.HasEmbedding ? side.RecentMeanSimilarityOf(dots ??= side.DotsWith(record.Embedding, record.Norm)) : null;
                    break;
                case Kind.SessionMean:
                    computed = record.HasEmbedding ? side.SessionMeanSimilarityWith(record.Embedding, record.Norm) : null;
                    break;
                case Kind.RecentCategories:
                    computed = request.Recent!.Match(record.Categories, record.HasCategories);
                    break;
                case Kind.SessionCategories:
                    computed = request.Session!.Match(record.Categories, record.HasCategories);
                    break;
                case Kind.RecentMax:
                    computed = record.HasEmbedding ? (top ??= side.RecentTopWith(request.RecentUnits!, record.Embedding, record.Norm)).Max : null;
                    break;
                case Kind.RecentTop3:
                    computed = record.HasEmbedding ? (top ??= side.RecentTopWith(request.RecentUnits!, record.Embedding, record.Norm)).Top3 : null;
                    break;
                case Kind.DotTimesActivity:
                    computed = record.HasEmbedding && RequestSide.DotOf(dots ??= side.DotsWith(record.Embedding, record.Norm)) is { } dot && side.LogEvents is { } events
                        ? dot * events
                        : null;
                    break;
                case Kind.ItemCellTimesActivity:
                    computed = side.LogEvents is { } activity && record.Defaulted(column.Slot) == 0 ? activity * record.Cell(column.Slot) : null;
                    break;
                case Kind.ItemCellMinusSessionPopularity:
                    computed = side.SessionMeanLogPopularity is { } session && record.Defaulted(column.Slot) == 0 ? record.Cell(column.Slot) - session : null;
                    break;
                default:
                    computed = column.Feature.Compute(side, request.Snapshot.ValuesAt(number));
                    break;
            }

            if (computed is { } value && float.IsFinite(value))
            {
                row[c] = value;
            }
            else
            {
                row[c] = column.Feature.Default;
                defaulted++;
            }
        }

        return defaulted;
    }
}

/// <summary>A request's share of <see cref="ColumnarRowComputer"/>'s rows (built by <see cref="ColumnarRowComputer.Begin"/>).</summary>
internal sealed class RequestColumns(RequestSide side, ItemFeatureSnapshot snapshot, ItemColumns columns, float[] cells, int[] cellDefaulted,
    RequestSide.CategoryMatcher? recent, RequestSide.CategoryMatcher? session, RequestSide.RecentUnits? recentUnits)
{
    public RequestSide Side { get; } = side;

    /// <summary>The snapshot every item number of the request refers to.</summary>
    public ItemFeatureSnapshot Snapshot { get; } = snapshot;

    public ItemColumns Columns { get; } = columns;

    /// <summary>Cells of the user-only columns (by column), computed once.</summary>
    public float[] Cells { get; } = cells;

    public int[] CellDefaulted { get; } = cellDefaulted;

    public RequestSide.CategoryMatcher? Recent { get; } = recent;

    public RequestSide.CategoryMatcher? Session { get; } = session;

    /// <summary>The recent items' unit embeddings of the records' width, when a column needs them.</summary>
    public RequestSide.RecentUnits? RecentUnits { get; } = recentUnits;
}
