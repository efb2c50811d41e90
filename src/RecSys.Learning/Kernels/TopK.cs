namespace RecSys.Learning.Kernels;

/// <summary>
/// Keeps the k best (highest score) of a stream of (id, score) with a min-heap; ties go to the smaller id so results
/// are reproducible. Reusable: <see cref="Reset"/> between queries, no allocation after construction.
/// </summary>
internal sealed class TopK
{
    private readonly int[] _ids;
    private readonly float[] _scores;
    private int _count;

    public TopK(int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        Capacity = k;
        _ids = new int[k];
        _scores = new float[k];
    }

    public int Capacity { get; }

    public int Count => _count;

    public void Reset() => _count = 0;

    /// <summary>True when (score, id) ranks below the current worst and cannot enter a full heap.</summary>
    public bool WouldReject(float score) => _count == Capacity && (Capacity == 0 || score < _scores[0]);

    public void Add(int id, float score)
    {
        if (Capacity == 0 || float.IsNaN(score))
        {
            return;
        }

        if (_count < Capacity)
        {
            var i = _count++;
            _ids[i] = id;
            _scores[i] = score;
            SiftUp(i);
        }
        else if (Better(score, id, _scores[0], _ids[0]))
        {
            _ids[0] = id;
            _scores[0] = score;
            SiftDown(0);
        }
    }

    /// <summary>Writes the kept entries best first and returns how many were written.</summary>
    public int Drain(Span<int> ids, Span<float> scores)
    {
        var n = _count;
        if (ids.Length < n || (!scores.IsEmpty && scores.Length < n))
        {
            throw new ArgumentException($"Output needs room for {n} entries.");
        }

        for (var i = n - 1; i >= 0; i--)
        {
            ids[i] = _ids[0];
            if (!scores.IsEmpty)
            {
                scores[i] = _scores[0];
            }

            _count--;
            _ids[0] = _ids[_count];
            _scores[0] = _scores[_count];
            SiftDown(0);
        }

        return n;
    }

    private static bool Better(float s1, int id1, float s2, int id2) => s1 > s2 || (s1 == s2 && id1 < id2);

    private void SiftUp(int i)
    {
        while (i > 0)
        {
            var parent = (i - 1) >> 1;
            if (!Better(_scores[parent], _ids[parent], _scores[i], _ids[i]))
            {
                break;
            }

            Swap(i, parent);
            i = parent;
        }
    }

    private void SiftDown(int i)
    {
        while (true)
        {
            var left = (2 * i) + 1;
            if (left >= _count)
            {
                return;
            }

            var worst = left;
            var right = left + 1;
            if (right < _count && Better(_scores[left], _ids[left], _scores[right], _ids[right]))
            {
                worst = right;
            }

            if (!Better(_scores[i], _ids[i], _scores[worst], _ids[worst]))
            {
                return;
            }

            Swap(i, worst);
            i = worst;
        }
    }

    private void Swap(int a, int b)
    {
        (_ids[a], _ids[b]) = (_ids[b], _ids[a]);
        (_scores[a], _scores[b]) = (_scores[b], _scores[a]);
    }
}
