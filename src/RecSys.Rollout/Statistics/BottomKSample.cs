namespace RecSys.Rollout.Statistics;

/// <summary>
/// A uniform sample of bounded size: keeps the values whose keys (pseudo-random hashes) are the k smallest seen. Two versions
/// scoring the same requests with the same keys keep the same requests (a coordinated sample), so identical scorers give
/// identical samples, and the KS test compares like with like.
/// </summary>
public sealed class BottomKSample
{
    private readonly Lock _lock = new();
    private readonly int _capacity;
    private readonly PriorityQueue<float, ulong> _largestKeyFirst = new(Comparer<ulong>.Create(static (a, b) => b.CompareTo(a)));
    private ulong _threshold = ulong.MaxValue;

    public BottomKSample(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _capacity = capacity;
    }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _largestKeyFirst.Count;
            }
        }
    }

    public void Offer(ulong key, float value)
    {
        // Most offers lose once the sample is full; reject them without the lock.
        if (key >= Volatile.Read(ref _threshold))
        {
            return;
        }

        lock (_lock)
        {
            if (_largestKeyFirst.Count < _capacity)
            {
                _largestKeyFirst.Enqueue(value, key);
            }
            else if (key < _threshold)
            {
                _largestKeyFirst.EnqueueDequeue(value, key);
            }

            if (_largestKeyFirst.Count == _capacity && _largestKeyFirst.TryPeek(out _, out var largest))
            {
                Volatile.Write(ref _threshold, largest);
            }
        }
    }

    public float[] Snapshot()
    {
        lock (_lock)
        {
            return [.. _largestKeyFirst.UnorderedItems.Select(static item => item.Element)];
        }
    }
}
