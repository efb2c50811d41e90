using System.Globalization;
using RecSys.Trainer.Commands;
using RecSys.Trainer.Generation;

namespace RecSys.Trainer.Ingestion;

/// <summary>How a versioned publish ended.</summary>
/// <param name="Activated">The Retrieval index serves the version; false: rejected (the previous version serves on).</param>
/// <param name="Detail">"activated (recall 0.987 >= 0.95)" or "rejected: recall@10 0.910 &lt; 0.95 ...".</param>
public sealed record PublishOutcome(string Version, int Items, int Users, bool Activated, double? Recall, string Detail);

/// <summary>
/// Publishes item and user vectors to the Retrieval service as one embedding version (the design's versioned embeddings):
/// stages them under the version (<c>PUT /v1/embeddings/{version}/items|users</c>, in batches) while the current version
/// serves, asks for the activation (<c>POST /v1/embeddings/{version}/activate</c>: index rebuilt from the staged vectors,
/// recall-checked, swapped with the store's active pointer) and waits for its outcome. Used by <c>train --publish</c> and the
/// seed (learned vectors, or the generator's latent ones with <c>--latent-vectors</c>).
/// </summary>
internal static class VectorIndexUploader
{
    /// <summary>Vectors per request.</summary>
    public const int BatchSize = 1_000;

    /// <summary>How long an activation (rebuild + recall check) may take before the publish gives up waiting.</summary>
    public static readonly TimeSpan ActivationTimeout = TimeSpan.FromHours(1);

    private sealed record ItemVector(string ItemId, float[] Vector);

    private sealed record ItemVectors(IReadOnlyList<ItemVector> Items);

    private sealed record UserVector(string UserId, float[] Vector);

    private sealed record UserVectors(IReadOnlyList<UserVector> Users);

    private sealed record ActivationView(string State, double? Recall, double MinRecall, int? Items, string? Reason);

    private sealed record VersionView(ActivationView? Activation);

    /// <summary>The synthetic world's latent vectors as version <c>latent-{seed}-{time}</c>.</summary>
    public static Task<PublishOutcome> UploadAsync(FeatureServerClient retrieval, SyntheticWorld world, TimeProvider time, TimeSpan pollInterval, CancellationToken cancellationToken)
    {
        var itemIds = Enumerable.Range(0, world.Options.Items).Select(SyntheticWorld.ItemId).ToList();
        var userIds = Enumerable.Range(0, world.Options.Users).Select(SyntheticWorld.UserId).ToList();
        var version = string.Create(CultureInfo.InvariantCulture, $"latent-{world.Options.Seed}-{time.GetUtcNow():yyyyMMdd'T'HHmmss'Z'}");
        return PublishAsync(retrieval, version, world.Options.Dimensions, itemIds, world.ItemVectors, userIds, world.UserVectors, time, pollInterval, cancellationToken);
    }

    /// <summary>Publishes row-major vectors of <paramref name="dimension"/> floats, one row per id, as <paramref name="version"/>.</summary>
    public static async Task<PublishOutcome> PublishAsync(
        FeatureServerClient retrieval,
        string version,
        int dimension,
        IReadOnlyList<string> itemIds,
        float[] itemVectors,
        IReadOnlyList<string> userIds,
        float[] userVectors,
        TimeProvider time,
        TimeSpan pollInterval,
        CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        if (itemVectors.Length != (long)itemIds.Count * dimension || userVectors.Length != (long)userIds.Count * dimension)
        {
            throw new ArgumentException($"Vectors do not match the ids ({itemIds.Count} items, {userIds.Count} users of d{dimension}).");
        }

        var escaped = Uri.EscapeDataString(version);
        for (var start = 0; start < itemIds.Count; start += BatchSize)
        {
            var batch = new List<ItemVector>(Math.Min(BatchSize, itemIds.Count - start));
            for (var i = start; i < Math.Min(itemIds.Count, start + BatchSize); i++)
            {
                batch.Add(new ItemVector(itemIds[i], itemVectors.AsSpan(i * dimension, dimension).ToArray()));
            }

            await retrieval.SendJsonAsync(HttpMethod.Put, $"/v1/embeddings/{escaped}/items", new ItemVectors(batch), cancellationToken);
        }

        for (var start = 0; start < userIds.Count; start += BatchSize)
        {
            var batch = new List<UserVector>(Math.Min(BatchSize, userIds.Count - start));
            for (var u = start; u < Math.Min(userIds.Count, start + BatchSize); u++)
            {
                batch.Add(new UserVector(userIds[u], userVectors.AsSpan(u * dimension, dimension).ToArray()));
            }

            await retrieval.SendJsonAsync(HttpMethod.Put, $"/v1/embeddings/{escaped}/users", new UserVectors(batch), cancellationToken);
        }

        await retrieval.SendJsonAsync<object?>(HttpMethod.Post, $"/v1/embeddings/{escaped}/activate", null, cancellationToken);
        ActivationView? activation;
        var deadline = time.GetUtcNow() + ActivationTimeout;
        while (true)
        {
            activation = (await retrieval.GetJsonAsync<VersionView>($"/v1/embeddings/{escaped}", cancellationToken)).Activation;
            if (activation is not null && !string.Equals(activation.State, "running", StringComparison.OrdinalIgnoreCase))
            {
                break;
            }

            if (time.GetUtcNow() > deadline)
            {
                throw new CliException(
                    $"embedding version {version} was staged but its activation did not finish within {ActivationTimeout.TotalMinutes:N0} minutes; see GET /v1/embeddings/{escaped}.",
                    ExitCodes.Timeout);
            }

            await Task.Delay(pollInterval, time, cancellationToken);
        }

        var c = CultureInfo.InvariantCulture;
        var activated = string.Equals(activation.State, "activated", StringComparison.OrdinalIgnoreCase);
        var detail = activated
            ? string.Create(c, $"activated (recall@10 {activation.Recall:0.000} >= {activation.MinRecall})")
            : $"{activation.State.ToLowerInvariant()}: {activation.Reason}";
        return new PublishOutcome(version, itemIds.Count, userIds.Count, activated, activation.Recall, detail);
    }

    /// <summary>Throws the CLI error (exit code <see cref="ExitCodes.Rejected"/>) of a publish that did not activate.</summary>
    public static void ThrowIfRejected(PublishOutcome outcome)
    {
        if (!outcome.Activated)
        {
            throw new CliException($"embedding version {outcome.Version} was not activated, the previous one keeps serving: {outcome.Detail}", ExitCodes.Rejected);
        }
    }
}
