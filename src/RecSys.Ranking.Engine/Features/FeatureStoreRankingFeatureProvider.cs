using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using RecSys.FeatureStore.OnlineStores;
using RecSys.FeatureStore.Registry;
using RecSys.FeatureStore.Streaming;

namespace RecSys.Ranking.Features;

/// <summary>
/// <see cref="IRankingFeatureProvider"/> over the online feature store: the user's and the candidates' registry values in one
/// pipelined read, then the values of the user's recent and session items in a second one (which items depends on the first),
/// item values through a short-TTL bounded cache; rows computed by <see cref="RankingRowComputer"/>, as in training. Values the
/// store does not have take the ranking feature's default and are counted in <see cref="FeatureMatrix.DefaultedValues"/>.
/// </summary>
public sealed class FeatureStoreRankingFeatureProvider : IRankingFeatureProvider
{
    private readonly IOnlineFeatureStore _store;
    private readonly RankingFeatureProviderOptions _options;
    private readonly FeatureL1Cache _itemCache;
    private readonly FeatureDefinition[] _userDefinitions;
    private readonly FeatureDefinition[] _itemDefinitions;
    private readonly FeatureDefinition[] _contextDefinitions;
    private readonly Lock _computersLock = new();
    private readonly Dictionary<string, RankingRowComputer> _computers = new(StringComparer.Ordinal);
    private readonly Counter<long> _defaulted;
    private readonly Counter<long> _cacheHits;
    private readonly Counter<long> _cacheMisses;

    public FeatureStoreRankingFeatureProvider(IOnlineFeatureStore store, FeatureRegistry registry, IOptions<RankingFeatureProviderOptions> options,
        TimeProvider time, IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(meters);
        _store = store;
        _options = options.Value;
        _itemCache = new FeatureL1Cache(_options.ItemCacheTtl, _options.ItemCacheMaxEntries, time);
        _userDefinitions = Definitions(registry, RankingFeatureCatalog.UserFeatures);
        _itemDefinitions = Definitions(registry, RankingFeatureCatalog.ItemFeatures);
        _contextDefinitions = Definitions(registry, RankingFeatureCatalog.ContextItemFeatures);
        var meter = meters.Create("RecSys.Ranking.Features");
        _defaulted = meter.CreateCounter<long>("recsys.ranking.features.defaulted", "{value}", "Feature values filled with their default because the store had none");
        _cacheHits = meter.CreateCounter<long>("recsys.ranking.features.item_cache.hits", "{value}", "Item feature values served from the provider's cache");
        _cacheMisses = meter.CreateCounter<long>("recsys.ranking.features.item_cache.misses", "{value}", "Item feature values read from the store");
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

        var computer = Computer(columns);
        var itemValues = new Dictionary<string, EntityValues>(StringComparer.Ordinal);
        var candidateIds = candidates.Select(c => c.ItemId).Distinct(StringComparer.Ordinal).ToList();

        // Round trip 1: the user, and the candidates the cache does not hold.
        var user = new EntityValues();
        var userEntity = new EntityRef(EntityKinds.User, query.UserId);
        var missing = FromCache(candidateIds, _itemDefinitions, itemValues);
        await ReadAsync([userEntity, .. missing.Select(Item)], [.. _userDefinitions, .. _itemDefinitions], user, itemValues, cancellationToken);

        // Round trip 2: the user's recent and session items (their categories, popularity, embeddings).
        var contextIds = (user.Ids(RankingFeatureCatalog.UserRecentItems) ?? [])
            .Concat(user.Ids(RankingFeatureCatalog.UserSessionItems) ?? [])
            .Distinct(StringComparer.Ordinal)
            .ToList();
        var contextValues = new Dictionary<string, EntityValues>(StringComparer.Ordinal);
        foreach (var id in contextIds)
        {
            if (itemValues.TryGetValue(id, out var known))
            {
                contextValues[id] = known;
            }
        }

        var contextMissing = FromCache([.. contextIds.Where(id => !contextValues.ContainsKey(id))], _contextDefinitions, contextValues);
        if (contextMissing.Count > 0)
        {
            await ReadAsync([.. contextMissing.Select(Item)], _contextDefinitions, null, contextValues, cancellationToken);
        }

        var request = new RankingRequestValues(user, contextValues, query.RequestTime.ToUnixTimeMilliseconds(), query.Context);
        var rows = new EntityValues[candidates.Count];
        for (var i = 0; i < rows.Length; i++)
        {
            rows[i] = itemValues.TryGetValue(candidates[i].ItemId, out var values) ? values : EntityValues.Empty;
        }

        var matrix = new FeatureMatrix(candidates.Count, computer.Columns);
        try
        {
            matrix.DefaultedValues = computer.Compute(request, rows, matrix.Values);
            matrix.Segment = RankingSegments.Of(request);

            // Scores may be reused until the user acts again (item values change slowly and the cache's TTL bounds them).
            matrix.FeatureState = user.TryNumber(RankingFeatureCatalog.UserLastEventMs, out var lastEvent)
                ? lastEvent.ToString("R", System.Globalization.CultureInfo.InvariantCulture)
                : "none";
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

    private static EntityRef Item(string id) => new(EntityKinds.Item, id);

    private RankingRowComputer Computer(IReadOnlyList<string> columns)
    {
        var key = string.Join('\n', columns);
        lock (_computersLock)
        {
            if (!_computers.TryGetValue(key, out var computer))
            {
                // Resolve throws ArgumentException for an unknown column, before anything is cached.
                computer = new RankingRowComputer(columns);
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
