using RecSys.Trainer.Generation;

namespace RecSys.Trainer.Ingestion;

/// <summary>
/// Sends a synthetic world's latent item and user vectors to the Retrieval service's vector index
/// (<c>PUT /v1/index/items</c>, <c>PUT /v1/index/users</c>), so that the collaborative source of a demo system has
/// embeddings from the first minute. They are the generator's own latent tastes, standing in for trained embeddings.
/// </summary>
internal static class VectorIndexUploader
{
    /// <summary>Vectors per request; the index applies writes this small at once, the rest at its next update.</summary>
    public const int BatchSize = 1_000;

    private sealed record ItemVector(string ItemId, float[] Vector);

    private sealed record ItemVectors(IReadOnlyList<ItemVector> Items);

    private sealed record UserVector(string UserId, float[] Vector);

    private sealed record UserVectors(IReadOnlyList<UserVector> Users);

    public static async Task<(int Items, int Users)> UploadAsync(FeatureServerClient retrieval, SyntheticWorld world, CancellationToken cancellationToken)
    {
        var items = world.Options.Items;
        for (var start = 0; start < items; start += BatchSize)
        {
            var batch = new List<ItemVector>(Math.Min(BatchSize, items - start));
            for (var i = start; i < Math.Min(items, start + BatchSize); i++)
            {
                batch.Add(new ItemVector(SyntheticWorld.ItemId(i), world.ItemVector(i).ToArray()));
            }

            await retrieval.SendJsonAsync(HttpMethod.Put, "/v1/index/items", new ItemVectors(batch), cancellationToken);
        }

        // Whatever the index queued instead of applying at once is applied now rather than at its next incremental update.
        await retrieval.SendJsonAsync<object?>(HttpMethod.Post, "/v1/index/apply", null, cancellationToken);

        var users = world.Options.Users;
        for (var start = 0; start < users; start += BatchSize)
        {
            var batch = new List<UserVector>(Math.Min(BatchSize, users - start));
            for (var u = start; u < Math.Min(users, start + BatchSize); u++)
            {
                batch.Add(new UserVector(SyntheticWorld.UserId(u), world.UserVector(u).ToArray()));
            }

            await retrieval.SendJsonAsync(HttpMethod.Put, "/v1/index/users", new UserVectors(batch), cancellationToken);
        }

        return (items, users);
    }
}
