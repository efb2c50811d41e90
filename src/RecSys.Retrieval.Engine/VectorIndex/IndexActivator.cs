using System.Collections.Concurrent;
using System.Globalization;
using RecSys.FeatureStore.Serving;
using RecSys.Retrieval.Diagnostics;
using RecSys.VectorSearch;

namespace RecSys.Retrieval.VectorIndex;

public enum ActivationState
{
    Running = 0,

    /// <summary>The rebuilt index passed the recall check and serves; the store's active pointer names the version.</summary>
    Activated = 1,

    /// <summary>The rebuilt index failed the recall check (or had no vectors); the previous index keeps serving.</summary>
    Rejected = 2,

    /// <summary>An error stopped it (the store was unreachable, ...); the previous index keeps serving.</summary>
    Failed = 3,
}

/// <summary>State of the latest activation of one embedding version.</summary>
/// <param name="Items">Item vectors the rebuilt index holds.</param>
/// <param name="Recall">Recall@10 of the rebuilt index against brute force at the serving ef.</param>
/// <param name="RecallQueries">Sampled item vectors the recall was measured on.</param>
/// <param name="Reason">Why it was rejected or failed.</param>
public sealed record ActivationStatus(
    long Id,
    string Version,
    ActivationState State,
    DateTimeOffset StartedAt,
    DateTimeOffset? CompletedAt,
    int? Items,
    double? Recall,
    int? RecallQueries,
    double MinRecall,
    string? Reason);

/// <summary>Thrown inside a verified rebuild whose index failed the recall check: the rebuild fails, the old index serves on.</summary>
internal sealed class IndexRejectedException(string reason) : Exception(reason);

/// <summary>
/// Builds a whole index off the query path, checks it and swaps it in (the spec's daily full rebuild from the embedding
/// store, gated): item vectors are read in batches of <see cref="ActivationOptions.ReadBatchSize"/> (from a named version of
/// the store, or from the live shards for the unversioned store) into NEW shards; <see cref="RecallCheck"/> measures
/// recall@10 at the serving ef; only when it reaches <see cref="ActivationOptions.MinRecall"/> are the item map, the shards
/// and the embedding version switched (the shards and version with one reference write, the item map a superset
/// meanwhile), then the store's active pointer. Any failure after the swap puts the previous shards back. Embedded backend
/// only. Activations run one at a time in the background; the status of the latest per version is kept.
/// </summary>
internal sealed class IndexActivator(
    SemaphoreSlim gate,
    IndexWriteApplier applier,
    IIndexShardSet shards,
    IndexedItems items,
    ItemMetadataRefresher metadata,
    IIndexPersistence persistence,
    IndexVersion version,
    EmbeddingStore? store,
    VectorIndexOptions options,
    TimeProvider time,
    RetrievalTelemetry telemetry,
    ILogger logger,
    CancellationToken stopping)
{
    private const int StatusesKept = 64;

    private readonly Lock _lock = new();
    private readonly ConcurrentDictionary<string, ActivationStatus> _statuses = new(StringComparer.Ordinal);
    private long _lastId;
    private Task<ActivationStatus>? _running;

    public bool IsRunning
    {
        get
        {
            lock (_lock)
            {
                return _running is { IsCompleted: false };
            }
        }
    }

    /// <summary>The latest activation of <paramref name="embeddingVersion"/> in this process, or null.</summary>
    public ActivationStatus? StatusOf(string embeddingVersion) => _statuses.TryGetValue(embeddingVersion, out var s) ? s : null;

    /// <summary>
    /// Starts activating <paramref name="embeddingVersion"/> in the background; returns its status and task, or the running
    /// activation's when one runs (<c>Started</c> false).
    /// </summary>
    /// <exception cref="NotSupportedException">The backend is not the embedded one, or there is no embedding store.</exception>
    public (ActivationStatus Status, Task<ActivationStatus> Task, bool Started) Start(string embeddingVersion)
    {
        if (shards is not EmbeddedShardSet)
        {
            throw new NotSupportedException(
                "Activating an embedding version is supported by the embedded index only; the Qdrant backend keeps its collections (publish to it with PUT /v1/index/items).");
        }

        if (store is null)
        {
            throw new NotSupportedException("Activating an embedding version needs the online store (ConnectionStrings:online-store).");
        }

        lock (_lock)
        {
            if (_running is { IsCompleted: false } running)
            {
                var current = _statuses.Values.First(s => s.State == ActivationState.Running);
                return (current, running, false);
            }

            var status = new ActivationStatus(++_lastId, embeddingVersion, ActivationState.Running, time.GetUtcNow(), null, null, null, null, options.Activation.MinRecall, null);
            Record(status);
            _running = Task.Run(() => RunAsync(status, stopping), CancellationToken.None);
            return (status, _running, true);
        }
    }

    /// <summary>
    /// The full rebuild of <see cref="VectorIndexManager.RebuildAsync"/> on the embedded backend, through the same
    /// build/verify/swap path: the serving version re-read from the store (a named one), else from the live shards. Called
    /// with the gate held and the queue applied. Throws <see cref="IndexRejectedException"/> when the check fails.
    /// </summary>
    public async Task RebuildServingAsync(CancellationToken cancellationToken)
    {
        var serving = shards.Current.EmbeddingVersion;
        var outcome = await BuildVerifySwapAsync(serving, fromStore: store is not null && serving.Length > 0, switchPointer: false, cancellationToken);
        if (outcome.Rejection is { } reason)
        {
            throw new IndexRejectedException(reason);
        }
    }

    private async Task<ActivationStatus> RunAsync(ActivationStatus status, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        try
        {
            Outcome outcome;
            await gate.WaitAsync(cancellationToken);
            try
            {
                // Writes queued before the activation land in the serving index (and were mirrored to its version) first.
                await applier.ApplyAsync(cancellationToken);
                outcome = await BuildVerifySwapAsync(status.Version, fromStore: true, switchPointer: true, cancellationToken);
                if (outcome.Rejection is null)
                {
                    await metadata.RefreshAllAsync(cancellationToken);
                    if (persistence.Persistent)
                    {
                        await persistence.SaveAsync(cancellationToken);
                    }
                }
            }
            finally
            {
                gate.Release();
            }

            var elapsedMs = time.GetElapsedTime(started).TotalMilliseconds;
            if (outcome.Rejection is { } reason)
            {
                await store!.MarkRejectedAsync(status.Version, reason, cancellationToken);
                VectorIndexLog.ActivationRejected(logger, status.Version, reason);
                telemetry.ActivationCompleted("rejected", outcome.Recall?.Recall);
                return Record(status with
                {
                    State = ActivationState.Rejected, CompletedAt = time.GetUtcNow(), Items = outcome.Items,
                    Recall = outcome.Recall?.Recall, RecallQueries = outcome.Recall?.Queries, Reason = reason,
                });
            }

            await PruneAsync(cancellationToken);
            VectorIndexLog.Activated(logger, status.Version, outcome.Items, outcome.Recall!.Value.Recall, outcome.Recall.Value.Queries, options.Activation.MinRecall, elapsedMs);
            telemetry.ActivationCompleted("activated", outcome.Recall.Value.Recall);
            return Record(status with
            {
                State = ActivationState.Activated, CompletedAt = time.GetUtcNow(), Items = outcome.Items,
                Recall = outcome.Recall.Value.Recall, RecallQueries = outcome.Recall.Value.Queries,
            });
        }
        catch (Exception ex)
        {
            VectorIndexLog.ActivationFailed(logger, status.Version, ex);
            telemetry.ActivationCompleted("failed", null);
            return Record(status with { State = ActivationState.Failed, CompletedAt = time.GetUtcNow(), Reason = ex.GetType().Name + ": " + ex.Message });
        }
    }

    private async Task<Outcome> BuildVerifySwapAsync(string embeddingVersion, bool fromStore, bool switchPointer, CancellationToken cancellationToken)
    {
        var embedded = (EmbeddedShardSet)shards;
        var hnsw = embedded.Hnsw;
        var dim = hnsw.Dimension;
        var built = new HnswIndex[embedded.Count];
        var keys = new Dictionary<long, string>();
        var skipped = 0;
        await foreach (var batch in ReadBatchesAsync(embeddingVersion, fromStore, dim, cancellationToken))
        {
            var rows = new List<(long Key, float[] Vector)>?[built.Length];
            foreach (var (itemId, vector) in batch)
            {
                var key = IndexedItems.KeyOf(itemId);
                if (vector is null || !AllFinite(vector))
                {
                    // No vector of the index's dimension.
                    skipped++;
                    continue;
                }

                if (!keys.TryAdd(key, itemId))
                {
                    // A repeat of the id (SSCAN may return one twice), or another id's hash (a collision: skipped).
                    skipped += keys[key] == itemId ? 0 : 1;
                    continue;
                }

                (rows[embedded.ShardOf(key)] ??= []).Add((key, vector));
            }

            for (var s = 0; s < built.Length; s++)
            {
                if (rows[s] is not { Count: > 0 } shardRows)
                {
                    continue;
                }

                built[s] ??= new HnswIndex(hnsw with { InitialCapacity = Math.Max(16, shardRows.Count) });
                var flat = new float[shardRows.Count * dim];
                for (var i = 0; i < shardRows.Count; i++)
                {
                    shardRows[i].Vector.CopyTo(flat, i * dim);
                }

                built[s].AddBatch(shardRows.Select(r => r.Key).ToArray(), flat, hnsw.MaxDegreeOfParallelism);
            }
        }

        if (keys.Count == 0)
        {
            return new Outcome(0, null, string.Create(CultureInfo.InvariantCulture,
                $"embedding version '{Describe(embeddingVersion)}' has no item vectors of dimension {dim} ({skipped} skipped); an empty index would replace the serving one"));
        }

        for (var s = 0; s < built.Length; s++)
        {
            built[s] ??= new HnswIndex(hnsw with { InitialCapacity = 16 });
        }

        var ef = options.Collaborative.EfSearch > 0 ? options.Collaborative.EfSearch : options.EfSearch;
        var threads = hnsw.MaxDegreeOfParallelism == -1 ? Environment.ProcessorCount : Math.Max(1, hnsw.MaxDegreeOfParallelism);
        var recall = await Task.Run(() => RecallCheck.Measure(built, options.Activation.RecallSampleSize, ActivationOptions.RecallK, ef, threads), cancellationToken);
        if (recall.Recall < options.Activation.MinRecall)
        {
            return new Outcome(keys.Count, recall, string.Create(CultureInfo.InvariantCulture,
                $"recall@{ActivationOptions.RecallK} {recall.Recall:0.000} < {options.Activation.MinRecall} (on {recall.Queries} queries at ef {ef}, {keys.Count} items)"));
        }

        // The item map first becomes a superset (searches of the old shards still find their ids), then the shards and the
        // version switch as one, then the ids only the old version had go.
        foreach (var (key, itemId) in keys)
        {
            if (!items.TryGet(key, out var existing) || existing.ItemId != itemId)
            {
                items.Set(key, new IndexedItem(itemId, null));
            }
        }

        var previous = embedded.ReplaceAll(built, embeddingVersion);
        version.Increment();
        if (switchPointer)
        {
            try
            {
                await store!.ActivateAsync(embeddingVersion, cancellationToken);
            }
            catch
            {
                embedded.Restore(previous);
                version.Increment();
                throw;
            }
        }

        foreach (var (key, item) in items.Entries.ToList())
        {
            if (!keys.ContainsKey(key))
            {
                items.Remove(key, item.ItemId);
            }
        }

        return new Outcome(keys.Count, recall, null);
    }

    /// <summary>Batches of (item id, vector or null) from a named version of the store, or from the serving shards.</summary>
    private async IAsyncEnumerable<IReadOnlyList<(string ItemId, float[]? Vector)>> ReadBatchesAsync(
        string embeddingVersion,
        bool fromStore,
        int dim,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var batchSize = options.Activation.ReadBatchSize;
        if (fromStore)
        {
            await foreach (var ids in store!.ReadItemIdBatchesAsync(embeddingVersion, batchSize, cancellationToken))
            {
                var vectors = await store.GetItemsAsync(embeddingVersion, ids, dim, cancellationToken);
                yield return [.. ids.Select((id, i) => (id, vectors[i]))];
            }

            yield break;
        }

        var generation = shards.Current;
        foreach (var chunk in items.Entries.ToList().Chunk(batchSize))
        {
            var batch = new List<(string, float[]?)>(chunk.Length);
            foreach (var (key, item) in chunk)
            {
                var vector = new float[dim];
                batch.Add((item.ItemId, generation.TryGetVector(key, vector) ? vector : null));
            }

            yield return batch;
        }
    }

    private async Task PruneAsync(CancellationToken cancellationToken)
    {
        try
        {
            await store!.PruneAsync(options.Activation.VersionsRetained, cancellationToken);
        }
        catch (Exception ex) when (OnlineStoreUnavailableException.IsStoreFailure(ex) || ex is OnlineStoreUnavailableException)
        {
            VectorIndexLog.PruneFailed(logger, ex);
        }
    }

    private ActivationStatus Record(ActivationStatus status)
    {
        _statuses[status.Version] = status;
        if (_statuses.Count > StatusesKept)
        {
            foreach (var old in _statuses.Values.Where(s => s.State != ActivationState.Running).OrderBy(s => s.Id).Take(_statuses.Count - StatusesKept))
            {
                _statuses.TryRemove(old.Version, out _);
            }
        }

        return status;
    }

    private static bool AllFinite(float[] vector)
    {
        foreach (var x in vector)
        {
            if (!float.IsFinite(x))
            {
                return false;
            }
        }

        return true;
    }

    private static string Describe(string embeddingVersion) => embeddingVersion.Length == 0 ? "(unversioned)" : embeddingVersion;

    private sealed record Outcome(int Items, RecallResult? Recall, string? Rejection);
}
