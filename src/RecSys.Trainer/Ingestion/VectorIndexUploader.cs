using RecSys.Trainer.Generation;

namespace RecSys.Trainer.Ingestion;

/// <summary>
/// Sends a synthetic world's latent item and user vectors to the Retrieval service's vector index
/// (<c>PUT /v1/index/items</c>, <c>PUT /v1/index/users</c>), so that the collaborative source of a demo system has
/// embeddings from the first minute (the generator's own latent tastes), or a trained model's vectors (<c>train --publish</c>).
/// </summary>
internal static class VectorIndexUploader
{
    /// <summary>Vectors per request; the index applies writes this small at once, the rest at its next update.</summary>
    public const int BatchSize = 1_000;

    private sealed record ItemVector(string ItemId, float[] Vector);

    private sealed record ItemVectors(IReadOnlyList<ItemVector> Items);

    private sealed record UserVector(string UserId, float[] Vector);

    private sealed record UserVectors(IReadOnlyList<UserVector> Users);

    public static Task<(int Items, int Users)> UploadAsync(FeatureServerClient retrieval, SyntheticWorld world, CancellationToken cancellationToken)
    {
        var itemIds = Enumerable.Range(0, world.Options.Items).Select(SyntheticWorld.ItemId).ToList();
        var userIds = Enumerable.Range(0, world.Options.Users).Select(SyntheticWorld.UserId).ToList();
        return UploadAsync(retrieval, world.Options.Dimensions, itemIds, world.ItemVectors, userIds, world.UserVectors, cancellationToken);
    }

    /// <summary>Uploads row-major vectors of <paramref name="dimension"/> floats, one row per id.</summary>
    public static async Task<(int Items, int Users)> UploadAsync(
        FeatureServerClient retrieval,
        int dimension,
        IReadOnlyList<string> itemIds,
        float[] itemVectors,
        IReadOnlyList<string> userIds,
        float[] userVectors,
        CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        if (itemVectors.Length != (long)itemIds.Count * dimension || userVectors.Length != (long)userIds.Count * dimension)
        {
            throw new ArgumentException($"Vectors do not match the ids ({itemIds.Count} items, {userIds.Count} users of d{dimension}).");
        }

        var items = itemIds.Count;
        for (var start = 0; start < items; start += BatchSize)
        {
            var batch = new List<ItemVector>(Math.Min(BatchSize, items - start));
            for (var i = start; i < Math.Min(items, start + BatchSize); i++)
            {
                batch.Add(new ItemVector(itemIds[i], itemVectors.AsSpan(i * dimension, dimension).ToArray()));
            }

            await retrieval.SendJsonAsync(HttpMethod.Put, "/v1/index/items", new ItemVectors(batch), cancellationToken);
        }

        // Whatever the index queued instead of applying at once is applied now rather than at its next incremental update.
        await retrieval.SendJsonAsync<object?>(HttpMethod.Post, "/v1/index/apply", null, cancellationToken);

        var users = userIds.Count;
        for (var start = 0; start < users; start += BatchSize)
        {
            var batch = new List<UserVector>(Math.Min(BatchSize, users - start));
            for (var u = start; u < Math.Min(users, start + BatchSize); u++)
            {
                batch.Add(new UserVector(userIds[u], userVectors.AsSpan(u * dimension, dimension).ToArray()));
            }

            await retrieval.SendJsonAsync(HttpMethod.Put, "/v1/index/users", new UserVectors(batch), cancellationToken);
        }

        return (items, users);
    }
}
