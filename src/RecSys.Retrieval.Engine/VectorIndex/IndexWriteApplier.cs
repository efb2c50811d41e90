using RecSys.Retrieval.Diagnostics;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>
/// Applies the write queue to the shards (the spec's incremental update): registers new items, reads their filter
/// metadata, writes upserts then deletes, and bumps the version once per batch. A failed batch goes back to the queue.
/// Callers serialize it with rebuild, snapshot and load.
/// </summary>
internal sealed class IndexWriteApplier(
    PendingWriteQueue queue,
    IndexedItems items,
    IIndexShardSet shards,
    ItemMetadataRefresher metadata,
    IndexVersion version,
    int dimension,
    RetrievalTelemetry telemetry,
    ILogger logger)
{
    /// <summary>Returns how many queued writes were applied.</summary>
    public async Task<int> ApplyAsync(CancellationToken cancellationToken)
    {
        var batch = queue.TakeAll();
        if (batch.Count == 0)
        {
            return 0;
        }

        try
        {
            var upserts = new List<(long Key, PendingWrite Write, IndexedItem Item)>();
            var deletes = new List<(long Key, PendingWrite Write)>();
            foreach (var (key, write) in batch)
            {
                if (write.Vector is null)
                {
                    deletes.Add((key, write));
                }
                else if (items.TryRegister(write.ItemId, key, out var item))
                {
                    upserts.Add((key, write, item));
                }
            }

            if (upserts.Count > 0)
            {
                await WriteUpsertsAsync(upserts, cancellationToken);
            }

            if (deletes.Count > 0)
            {
                await shards.DeleteAsync(deletes.Select(d => d.Key).ToArray(), cancellationToken);
                foreach (var (key, write) in deletes)
                {
                    items.Remove(key, write.ItemId);
                    queue.DeleteApplied(key, write.Sequence);
                }

                telemetry.Applied("delete", deletes.Count);
            }

            var applied = version.Increment();
            VectorIndexLog.Applied(logger, upserts.Count, deletes.Count, applied);
            return batch.Count;
        }
        catch
        {
            queue.Restore(batch);
            throw;
        }
    }

    private async Task WriteUpsertsAsync(List<(long Key, PendingWrite Write, IndexedItem Item)> upserts, CancellationToken cancellationToken)
    {
        var registered = upserts.Select(u => u.Item).ToList();
        await metadata.ReadAsync(registered, cancellationToken);
        var keys = new long[upserts.Count];
        var vectors = new float[upserts.Count * dimension];
        for (var i = 0; i < upserts.Count; i++)
        {
            keys[i] = upserts[i].Key;
            upserts[i].Write.Vector.CopyTo(vectors.AsSpan(i * dimension, dimension));
        }

        await shards.UpsertAsync(keys, vectors, registered, cancellationToken);
        telemetry.Applied("upsert", upserts.Count);
    }
}
