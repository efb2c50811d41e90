using RecSys.Learning.Interactions;
using RecSys.Learning.Kernels;

namespace RecSys.Learning.Evaluation;

/// <summary>
/// EASE (Steck 2019): B = I - P diagMat(1 / diag(P)) with P = (X^T X + lambda I)^-1 on the binarized training matrix,
/// score(u, j) = sum_{i in train(u)} B_ij. The dense inverse is O(n^3) time and O(n^2) memory, so only the
/// <see cref="MaxItems"/> most popular items take part (catalogue items outside them are never recommended and
/// contribute nothing to scores).
/// </summary>
public sealed class EaseRecommender : IRecommender
{
    private readonly CsrMatrix _seen;
    private readonly int[] _localIndex;
    private readonly int[] _globalIndex;
    private readonly float[] _weights;

    public EaseRecommender(InteractionMatrix train, float lambda = 500f, int maxItems = 5000)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (!float.IsFinite(lambda) || lambda <= 0)
        {
            throw new ArgumentException($"Lambda must be finite and > 0 (got {lambda}).", nameof(lambda));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(maxItems, 1);
        Lambda = lambda;
        _seen = train.UserItems;
        var popularity = train.ItemPopularity();
        _globalIndex = Enumerable.Range(0, train.ItemCount)
            .Where(i => popularity[i] > 0)
            .OrderByDescending(i => popularity[i])
            .ThenBy(i => i)
            .Take(maxItems)
            .ToArray();
        MaxItems = maxItems;
        var n = _globalIndex.Length;
        _localIndex = new int[train.ItemCount];
        _localIndex.AsSpan().Fill(-1);
        for (var k = 0; k < n; k++)
        {
            _localIndex[_globalIndex[k]] = k;
        }

        _weights = new float[(long)n * n];
        if (n == 0)
        {
            return;
        }

        // G = X^T X over the kept items (co-occurrence counts), lambda on the diagonal.
        var gram = new double[(long)n * n];
        Parallel.For(0, n, a =>
        {
            var row = (long)a * n;
            foreach (var u in train.ItemUsers.RowColumns(_globalIndex[a]))
            {
                foreach (var j in train.UserItems.RowColumns(u))
                {
                    var b = _localIndex[j];
                    if (b >= 0)
                    {
                        gram[row + b] += 1;
                    }
                }
            }

            gram[row + a] += lambda;
        });

        SymmetricInverse.InvertInPlace(gram, n);
        Parallel.For(0, n, i =>
        {
            for (var j = 0; j < n; j++)
            {
                _weights[((long)i * n) + j] = i == j ? 0f : (float)(-gram[((long)i * n) + j] / gram[((long)j * n) + j]);
            }
        });
    }

    public float Lambda { get; }

    public int MaxItems { get; }

    /// <summary>Items that take part (the most popular, at most <see cref="MaxItems"/>).</summary>
    public int ModelItems => _globalIndex.Length;

    public string Name => $"ease(lambda={Lambda}, top {ModelItems} items)";

    public int Recommend(int user, Span<int> items)
    {
        var n = _globalIndex.Length;
        var scores = new float[n];
        var seen = user < _seen.RowCount ? _seen.RowColumns(user) : [];
        foreach (var i in seen)
        {
            var local = _localIndex[i];
            if (local >= 0)
            {
                VectorKernels.Axpy(1f, _weights.AsSpan((int)((long)local * n), n), scores);
            }
        }

        var top = new TopK(items.Length);
        for (var k = 0; k < n; k++)
        {
            if (seen.BinarySearch(_globalIndex[k]) < 0)
            {
                top.Add(_globalIndex[k], scores[k]);
            }
        }

        return top.Drain(items, []);
    }
}
