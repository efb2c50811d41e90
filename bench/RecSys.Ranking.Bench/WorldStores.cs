using RecSys.FeatureStore.OnlineStores;
using RecSys.FeatureStore.Serving;
using RecSys.FeatureStore.Streaming;
using RecSys.Ranking.Serving;

namespace RecSys.Ranking.Bench;

/// <summary>
/// The world's values behind <see cref="IOnlineFeatureStore"/>, answered from memory. It stands in for Garnet so that the
/// process's CPU is Ranking's alone: the user read a request makes (one round trip in production, whose client-side cost
/// is therefore not in these figures) and the item table's catalog reads come from here.
/// </summary>
public sealed class WorldFeatureStore(BenchWorld world) : IOnlineFeatureStore
{
    public Task<IReadOnlyList<EntityFeatureValues>> GetAsync(OnlineFeatureQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var results = new List<EntityFeatureValues>(query.Entities.Count);
        foreach (var entity in query.Entities)
        {
            var definitions = query.Features.Where(f => f.EntityKind == entity.Kind).ToArray();
            Dictionary<string, FeatureValue>? values = entity.Kind switch
            {
                EntityKinds.User when world.UserIndex.TryGetValue(entity.Id, out var u) => world.UserValues[u],
                EntityKinds.Item when world.ItemIndex.TryGetValue(entity.Id, out var i) => world.ItemValues[i],
                _ => null,
            };
            var row = new FeatureValue[definitions.Length];
            for (var f = 0; f < definitions.Length; f++)
            {
                row[f] = values is not null && values.TryGetValue(definitions[f].Name, out var value) ? value : FeatureValue.Default(definitions[f]);
            }

            results.Add(new EntityFeatureValues(entity, definitions, row));
        }

        return Task.FromResult<IReadOnlyList<EntityFeatureValues>>(results);
    }

    public Task<bool[]> WriteIfNewerAsync(IReadOnlyList<FeatureWrite> writes, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("The bench's store is read-only.");
}

/// <summary>Post-processing's item metadata and embeddings from the world (production reads them from the table and the store).</summary>
public sealed class WorldPostProcessingInputs(BenchWorld world) : IPostProcessingInputs
{
    public Task<(IReadOnlyList<ItemMetadata?> Metadata, IReadOnlyList<float[]?> Embeddings)> ReadAsync(IReadOnlyList<string> itemIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(itemIds);
        var metadata = new ItemMetadata?[itemIds.Count];
        var embeddings = new float[]?[itemIds.Count];
        for (var i = 0; i < itemIds.Count; i++)
        {
            if (world.ItemIndex.TryGetValue(itemIds[i], out var item))
            {
                metadata[i] = world.Metadata[item];
                embeddings[i] = world.Embeddings[item];
            }
        }

        return Task.FromResult<(IReadOnlyList<ItemMetadata?>, IReadOnlyList<float[]?>)>((metadata, embeddings));
    }
}
