using System.Collections.Concurrent;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>A queued add, update (<see cref="Vector"/> set) or delete (<see cref="Vector"/> null) of one item.</summary>
internal sealed record PendingWrite(string ItemId, float[]? Vector, long Sequence);

/// <summary>
/// The write queue: the latest write per item wins until the next apply. A queued delete is visible at once
/// (<see cref="IsDeletePending"/>), so searches hide the item before the shards drop it. Ids whose key already belongs to
/// another id (an XxHash64 collision) are refused.
/// </summary>
internal sealed class PendingWriteQueue(IndexedItems items, int dimension, ILogger logger)
{
    private readonly Lock _lock = new();
    private readonly ConcurrentDictionary<long, long> _pendingDeletes = new();
    private Dictionary<long, PendingWrite> _pending = [];
    private long _sequence;

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>True when at least one delete waits: searches must then filter every hit.</summary>
    public bool HasPendingDeletes => !_pendingDeletes.IsEmpty;

    public bool IsDeletePending(long key) => _pendingDeletes.ContainsKey(key);

    /// <summary>Queues adds or updates; returns how many were accepted and the ids refused for a key collision.</summary>
    public (int Accepted, List<string> Rejected) EnqueueUpserts(IReadOnlyList<(string ItemId, float[] Vector)> writes)
    {
        var rejected = new List<string>();
        var accepted = 0;
        lock (_lock)
        {
            foreach (var (itemId, vector) in writes)
            {
                if (vector.Length != dimension)
                {
                    throw new ArgumentException($"Vector of {itemId} has {vector.Length} dimensions, not {dimension}.", nameof(writes));
                }

                var key = IndexedItems.KeyOf(itemId);
                if (Collides(key, itemId))
                {
                    rejected.Add(itemId);
                    continue;
                }

                _pending[key] = new PendingWrite(itemId, vector, ++_sequence);
                _pendingDeletes.TryRemove(key, out _);
                accepted++;
            }
        }

        return (accepted, rejected);
    }

    /// <summary>Queues deletes (colliding ids are skipped); returns how many were accepted.</summary>
    public int EnqueueDeletes(IReadOnlyList<string> itemIds)
    {
        var accepted = 0;
        lock (_lock)
        {
            foreach (var itemId in itemIds)
            {
                var key = IndexedItems.KeyOf(itemId);
                if (Collides(key, itemId))
                {
                    continue;
                }

                var sequence = ++_sequence;
                _pending[key] = new PendingWrite(itemId, null, sequence);
                _pendingDeletes[key] = sequence;
                accepted++;
            }
        }

        return accepted;
    }

    /// <summary>Takes every queued write (empty when none); the queue starts over.</summary>
    public Dictionary<long, PendingWrite> TakeAll()
    {
        lock (_lock)
        {
            if (_pending.Count == 0)
            {
                return [];
            }

            var batch = _pending;
            _pending = [];
            return batch;
        }
    }

    /// <summary>Puts back the writes of a failed apply that no newer write replaced, so that the next apply retries them.</summary>
    public void Restore(Dictionary<long, PendingWrite> batch)
    {
        lock (_lock)
        {
            foreach (var (key, write) in batch)
            {
                _pending.TryAdd(key, write);
            }
        }
    }

    /// <summary>The delete reached the shards: it no longer needs hiding (unless a newer delete of the same item was queued).</summary>
    public void DeleteApplied(long key, long sequence) =>
        _pendingDeletes.TryRemove(new KeyValuePair<long, long>(key, sequence));

    private bool Collides(long key, string itemId)
    {
        string? other = null;
        if (items.TryGet(key, out var existing) && existing.ItemId != itemId)
        {
            other = existing.ItemId;
        }
        else if (_pending.TryGetValue(key, out var queued) && queued.ItemId != itemId)
        {
            other = queued.ItemId;
        }

        if (other is null)
        {
            return false;
        }

        VectorIndexLog.IdCollision(logger, itemId, other, key);
        return true;
    }
}
