using System.Buffers;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using RecSys.FeatureStore.OnlineStores;
using RecSys.FeatureStore.Registry;
using RecSys.FeatureStore.Streaming;

namespace RecSys.Ranking.Features;

/// <summary>
/// <see cref="IRankingFeatureProvider"/> over the online feature store. Item values come from the in-process
/// <see cref="ItemFeatureTable"/> (the whole catalog, refreshed in the background) when one is given; the user's values, and
/// those of items the table lacks, are read in one pipelined read, then the values of the user's recent and session items the
/// table lacks in a second one (which items depends on the first); item values read per request go through a short-TTL
/// bounded cache. Rows are computed by <see cref="RankingRowComputer"/>, as in training (for the table's items from its records by
/// item number, <see cref="ColumnarRowComputer"/>, which gives the same rows bit for bit): the leading
/// <see cref="RankingQuery.EagerColumns"/> for every candidate, the others when <see cref="FeatureMatrix.CompleteRows"/> asks.
/// Values the store does not have take the ranking feature's default and are counted in <see cref="FeatureMatrix.DefaultedValues"/>.
/// </summary>
public sealed class FeatureStoreRankingFeatureProvider : IRankingFeatureProvider
{
    private readonly IOnlineFeatureStore _store;
    private readonly RankingFeatureProviderOptions _options;
    private readonly FeatureL1Cache _itemCache;
    private readonly ItemFeatureTable? _table;
    private readonly FeatureDefinition[] _userDefinitions;
    private readonly FeatureDefinition[] _itemDefinitions;
    private readonly FeatureDefinition[] _contextDefinitions;
    private readonly Lock _computersLock = new();
    private readonly Dictionary<string, ColumnarRowComputer> _computers = new(StringComparer.Ordinal);
    private readonly Counter<long> _defaulted;
    private readonly Counter<long> _cacheHits;
    private readonly Counter<long> _cacheMisses;
    private readonly Counter<long> _tableHits;

    // Where the result of the warming reads goes, so that they are not optimized away.
    private int _touched;

    public FeatureStoreRankingFeatureProvider(IOnlineFeatureStore store, FeatureRegistry registry, IOptions<RankingFeatureProviderOptions> options,
        TimeProvider time, IMeterFactory meters, ItemFeatureTable? itemTable = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(meters);
        _store = store;
        _options = options.Value;
        _table = itemTable;
        _itemCache = new FeatureL1Cache(_options.ItemCacheTtl, _options.ItemCacheMaxEntries, time);
        _userDefinitions = Definitions(registry, RankingFeatureCatalog.UserFeatures);
        _itemDefinitions = Definitions(registry, RankingFeatureCatalog.ItemFeatures);
        _contextDefinitions = Definitions(registry, RankingFeatureCatalog.ContextItemFeatures);
        var meter = meters.Create("RecSys.Ranking.Features");
        _defaulted = meter.CreateCounter<long>("recsys.ranking.features.defaulted", "{value}", "Feature values filled with their default because the store had none");
        _cacheHits = meter.CreateCounter<long>("recsys.ranking.features.item_cache.hits", "{value}", "Item feature values served from the provider's cache");
        _cacheMisses = meter.CreateCounter<long>("recsys.ranking.features.item_cache.misses", "{value}", "Item feature values read from the store");
        _tableHits = meter.CreateCounter<long>("recsys.ranking.features.item_table.hits", "{item}", "Candidates whose values came from the in-process item table");
    }

    public bool Supports(string featureName) => RankingFeatureCatalog.TryGet(featureName, out _);

    public async ValueTask<FeatureMatrix> FetchAsync(RankingQuery query, IReadOnlyList<RankingCandidate> candidates, IReadOnlyList<string> columns,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(columns);
        ArgumentException.ThrowIfNullOrWhiteSpace(query.UserId);
        if (candidates.Count > _options.MaxCandidates)
        {
            throw new ArgumentException($"{candidates.Count:N0} candidates exceed the limit of {_options.MaxCandidates:N0}.", nameof(candidates));
        }

        var columnar = Computer(columns);
        var computer = columnar.General;
        var n = candidates.Count;
        // One snapshot for the whole request: every item number below refers to it.
        var table = _table?.Current;
        var itemColumns = _options.UseItemColumns ? table?.Columns : null;
        var rows = ArrayPool<EntityValues>.Shared.Rent(Math.Max(1, n));
        var numbers = ArrayPool<int>.Shared.Rent(Math.Max(1, n));
        var rowsOwned = true;
        try
        {
            // Candidates from the in-process item table (by number in its columns); only those it lacks (and the user) go to the store.
            List<string>? absent = null;
            var touched = 0;
            var stamp = table?.Stamp ?? 0;
            for (var i = 0; i < n; i++)
            {
                rows[i] = null!;
                numbers[i] = -1;
                var candidate = candidates[i];
                int number;
                // Ids found in this very snapshot while decoding carry their number; the others are looked up here.
                if (table is not null && (candidate.TableStamp == stamp ? (number = candidate.TableNumber) >= 0 : table.TryGetNumber(candidate.ItemId, out number)))
                {
                    // The row computation below reads these lines for every candidate: fetching them in this short loop
                    // overlaps the cache misses of many candidates (the catalog does not stay in cache).
                    if (itemColumns is not null)
                    {
                        numbers[i] = number;
                        touched += itemColumns.Touch(number);
                    }
                    else
                    {
                        rows[i] = table.ValuesAt(number);
                        touched += rows[i].Touch();
                    }
                }
                else
                {
                    (absent ??= []).Add(candidates[i].ItemId);
                }
            }

            if (table is not null)
            {
                _tableHits.Add(n - (absent?.Count ?? 0));
                Volatile.Write(ref _touched, touched);
            }

            // Round trip 1: the user, and the candidates neither the table nor the cache hold.
            var itemValues = new Dictionary<string, EntityValues>(StringComparer.Ordinal);
            var user = new EntityValues();
            var userEntity = new EntityRef(EntityKinds.User, query.UserId);
            var missing = absent is null ? [] : FromCache([.. absent.Distinct(StringComparer.Ordinal)], _itemDefinitions, itemValues);
            await ReadAsync([userEntity, .. missing.Select(Item)], [.. _userDefinitions, .. _itemDefinitions], user, itemValues, cancellationToken);
            if (absent is not null)
            {
                for (var i = 0; i < n; i++)
                {
                    if (numbers[i] < 0)
                    {
                        rows[i] ??= itemValues.TryGetValue(candidates[i].ItemId, out var values) ? values : EntityValues.Empty;
                    }
                }
            }

            // Round trip 2 (when the table lacks some): the user's recent and session items (their categories, popularity, embeddings).
            var contextValues = new Dictionary<string, EntityValues>(StringComparer.Ordinal);
            List<string>? contextAbsent = null;
            foreach (var id in (user.Ids(RankingFeatureCatalog.UserRecentItems) ?? []).Concat(user.Ids(RankingFeatureCatalog.UserSessionItems) ?? []))
            {
                if (contextValues.ContainsKey(id))
                {
                    continue;
                }

                if (table is not null && table.TryGet(id, out var known))
                {
                    contextValues[id] = known;
                }
                else if (itemValues.TryGetValue(id, out known))
                {
                    contextValues[id] = known;
                }
                else if (contextAbsent is null || !contextAbsent.Contains(id, StringComparer.Ordinal))
                {
                    (contextAbsent ??= []).Add(id);
                }
            }

            var contextMissing = contextAbsent is null ? [] : FromCache(contextAbsent, _contextDefinitions, contextValues);
            if (contextMissing.Count > 0)
            {
                await ReadAsync([.. contextMissing.Select(Item)], _contextDefinitions, null, contextValues, cancellationToken);
            }

            var request = new RankingRequestValues(user, contextValues, query.RequestTime.ToUnixTimeMilliseconds(), query.Context);
            var side = new RequestSide(request);
            var requestColumns = itemColumns is not null ? columnar.Begin(side, table!) : null;
            var eager = Math.Clamp(query.EagerColumns, 0, computer.Width);
            var matrix = new FeatureMatrix(n, computer.Columns);
            try
            {
                var defaulted = 0;
                for (var i = 0; i < n; i++)
                {
                    defaulted += numbers[i] >= 0
                        ? columnar.ComputeRow(requestColumns!, numbers[i], matrix.Row(i), 0, eager)
                        : computer.ComputeRow(side, rows[i], matrix.Row(i), 0, eager);
                }

                matrix.DefaultedValues = defaulted;
                matrix.Segment = RankingSegments.Of(request);

                // Scores may be reused until the user acts again (item values change slowly and the cache's TTL bounds them).
                matrix.FeatureState = user.TryNumber(RankingFeatureCatalog.UserLastEventMs, out var lastEvent)
                    ? lastEvent.ToString("R", System.Globalization.CultureInfo.InvariantCulture)
                    : "none";
                if (eager < computer.Width)
                {
                    // The main stage's other columns are computed only for the rows the pre-ranker keeps.
                    matrix.Defer(new DeferredColumns(columnar, side, requestColumns, rows, numbers, eager, _defaulted));
                    rowsOwned = false;
                }
            }
            catch
            {
                matrix.Dispose();
                throw;
            }

            if (matrix.DefaultedValues > 0)
            {
                _defaulted.Add(matrix.DefaultedValues);
            }

            return matrix;
        }
        finally
        {
            if (rowsOwned)
            {
                ArrayPool<EntityValues>.Shared.Return(rows, clearArray: true);
                ArrayPool<int>.Shared.Return(numbers);
            }
        }
    }

    /// <summary>The later columns of a request's rows, over the request side and item values the eager pass used.</summary>
    private sealed class DeferredColumns(ColumnarRowComputer computer, RequestSide side, RequestColumns? columns, EntityValues[] items, int[] numbers, int from,
        Counter<long> defaultedCounter) : IDeferredColumns
    {
        private EntityValues[]? _items = items;

        public int Complete(FeatureMatrix matrix, ReadOnlySpan<int> rows)
        {
            var items = _items ?? throw new ObjectDisposedException(nameof(FeatureMatrix));
            var defaulted = 0;
            foreach (var r in rows)
            {
                defaulted += numbers[r] >= 0
                    ? computer.ComputeRow(columns!, numbers[r], matrix.Row(r), from, computer.Width)
                    : computer.General.ComputeRow(side, items[r], matrix.Row(r), from, computer.Width);
            }

            if (defaulted > 0)
            {
                defaultedCounter.Add(defaulted);
            }

            return defaulted;
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _items, null) is { } items)
            {
                ArrayPool<EntityValues>.Shared.Return(items, clearArray: true);
                ArrayPool<int>.Shared.Return(numbers);
            }
        }
    }

    private static EntityRef Item(string id) => new(EntityKinds.Item, id);

    private ColumnarRowComputer Computer(IReadOnlyList<string> columns)
    {
        // A release hands the same names to every request: known by reference, without joining them into a key again.
        if (Volatile.Read(ref _lastComputer) is { } last && SameNames(last.Columns, columns))
        {
            return last.Computer;
        }

        var computer = Computer(columns, string.Join('\n', columns));
        Volatile.Write(ref _lastComputer, new LastComputer([.. columns], computer));
        return computer;
    }

    private static bool SameNames(string[] known, IReadOnlyList<string> columns)
    {
        if (known.Length != columns.Count)
        {
            return false;
        }

        for (var i = 0; i < known.Length; i++)
        {
            if (!ReferenceEquals(known[i], columns[i]))
            {
                return false;
            }
        }

        return true;
    }

    private LastComputer? _lastComputer;

    private sealed record LastComputer(string[] Columns, ColumnarRowComputer Computer);

    private ColumnarRowComputer Computer(IReadOnlyList<string> columns, string key)
    {
        lock (_computersLock)
        {
            if (!_computers.TryGetValue(key, out var computer))
            {
                // Resolve throws ArgumentException for an unknown column, before anything is cached.
                computer = new ColumnarRowComputer(new RankingRowComputer(columns));
                if (_computers.Count < 64)
                {
                    _computers[key] = computer;
                }
            }

            return computer;
        }
    }

    /// <summary>Fills <paramref name="into"/> with the cached items that have every feature cached; returns the others.</summary>
    private List<string> FromCache(IReadOnlyList<string> ids, FeatureDefinition[] definitions, Dictionary<string, EntityValues> into)
    {
        if (!_itemCache.Enabled)
        {
            return [.. ids];
        }

        var missing = new List<string>();
        foreach (var id in ids)
        {
            var entity = Item(id).ToString();
            var values = new EntityValues();
            var complete = true;
            foreach (var definition in definitions)
            {
                if (!_itemCache.TryGet(entity, definition.Name, out var value))
                {
                    complete = false;
                    break;
                }

                values.Set(definition.Name, value);
            }

            if (complete)
            {
                into[id] = values;
            }
            else
            {
                missing.Add(id);
            }
        }

        _cacheHits.Add(ids.Count - missing.Count);
        _cacheMisses.Add(missing.Count);
        return missing;
    }

    private async Task ReadAsync(List<EntityRef> entities, FeatureDefinition[] definitions, EntityValues? user,
        Dictionary<string, EntityValues> items, CancellationToken cancellationToken)
    {
        var results = await _store.GetAsync(new OnlineFeatureQuery(entities, definitions), cancellationToken);
        foreach (var result in results)
        {
            var isUser = result.Entity.Kind == EntityKinds.User;
            var target = isUser ? user! : new EntityValues();
            var entity = result.Entity.ToString();
            for (var i = 0; i < result.Values.Length; i++)
            {
                var value = result.Values[i];
                target.Set(result.Features[i].Name, value);
                if (!isUser && _itemCache.Enabled)
                {
                    _itemCache.Set(entity, result.Features[i].Name, value);
                }
            }

            if (!isUser)
            {
                items[result.Entity.Id] = target;
            }
        }
    }

    private static FeatureDefinition[] Definitions(FeatureRegistry registry, IReadOnlyList<string> names) =>
        [.. names.Select(name => registry.TryGet(name, out var definition)
            ? definition
            : throw new InvalidOperationException($"The feature registry has no '{name}', which the ranking features read."))];
}
