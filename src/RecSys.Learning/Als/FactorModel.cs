using RecSys.Learning.Interactions;
using RecSys.Learning.Kernels;

namespace RecSys.Learning.Als;

/// <summary>A scored item.</summary>
public readonly record struct ScoredItem(int Item, float Score);

/// <summary>
/// Learned user and item factors (row-major, <see cref="Dimension"/> floats per row): score(u, i) = x_u . y_i.
/// </summary>
public sealed class FactorModel
{
    public FactorModel(int userCount, int itemCount, int dimension, float[] userFactors, float[] itemFactors)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(userCount);
        ArgumentOutOfRangeException.ThrowIfNegative(itemCount);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        if (userFactors.Length != (long)userCount * dimension || itemFactors.Length != (long)itemCount * dimension)
        {
            throw new ArgumentException(
                $"Factor arrays must hold {userCount} x {dimension} and {itemCount} x {dimension} floats (got {userFactors.Length} and {itemFactors.Length}).");
        }

        UserCount = userCount;
        ItemCount = itemCount;
        Dimension = dimension;
        UserFactors = userFactors;
        ItemFactors = itemFactors;
    }

    public int UserCount { get; }

    public int ItemCount { get; }

    public int Dimension { get; }

    public float[] UserFactors { get; }

    public float[] ItemFactors { get; }

    /// <summary>
    /// Rotates both sides, in place, by the orthogonal matrix R that best maps this model's vectors of <paramref name="items"/>
    /// onto <paramref name="reference"/>'s (orthogonal Procrustes: R = M (M^T M)^-1/2 with M = Y^T Y_ref over those items).
    /// Every score x_u . y_i stays the same (up to rounding); coordinate k then means what it means in the reference, so two
    /// fits of overlapping data can feed a model that reads single coordinates. Items index the same ids in both models.
    /// </summary>
    public void AlignTo(FactorModel reference, IEnumerable<int> items)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(items);
        if (reference.Dimension != Dimension)
        {
            throw new ArgumentException($"The reference has dimension {reference.Dimension}, this model {Dimension}.", nameof(reference));
        }

        var d = Dimension;
        var m = new double[d * d];
        foreach (var i in items)
        {
            var mine = Item(i);
            var theirs = reference.Item(i);
            for (var a = 0; a < d; a++)
            {
                double ya = mine[a];
                for (var b = 0; b < d; b++)
                {
                    m[(a * d) + b] += ya * theirs[b];
                }
            }
        }

        // M^T M = W diag(l) W^T, so (M^T M)^-1/2 = W diag(l^-1/2) W^T; directions the items do not span (l ~ 0) are left out.
        var mtm = new double[d * d];
        for (var a = 0; a < d; a++)
        {
            for (var b = 0; b < d; b++)
            {
                double sum = 0;
                for (var k = 0; k < d; k++)
                {
                    sum += m[(k * d) + a] * m[(k * d) + b];
                }

                mtm[(a * d) + b] = sum;
            }
        }

        var (values, vectors) = Content.DenseMath.SymmetricEigen(mtm, d);
        var inverseRoot = new double[d * d];
        var floor = Math.Max(values[0], 1e-300) * 1e-12;
        for (var k = 0; k < d; k++)
        {
            if (values[k] <= floor)
            {
                continue;
            }

            var scale = 1 / Math.Sqrt(values[k]);
            for (var a = 0; a < d; a++)
            {
                for (var b = 0; b < d; b++)
                {
                    inverseRoot[(a * d) + b] += vectors[(a * d) + k] * scale * vectors[(b * d) + k];
                }
            }
        }

        var rotation = new double[d * d];
        for (var a = 0; a < d; a++)
        {
            for (var b = 0; b < d; b++)
            {
                double sum = 0;
                for (var k = 0; k < d; k++)
                {
                    sum += m[(a * d) + k] * inverseRoot[(k * d) + b];
                }

                rotation[(a * d) + b] = sum;
            }
        }

        Rotate(UserFactors, UserCount, d, rotation);
        Rotate(ItemFactors, ItemCount, d, rotation);
    }

    /// <summary>Row r becomes row r times <paramref name="rotation"/> (d x d, row-major), in double.</summary>
    private static void Rotate(float[] factors, int rows, int d, double[] rotation)
    {
        var row = new double[d];
        for (var r = 0; r < rows; r++)
        {
            var f = factors.AsSpan(r * d, d);
            for (var a = 0; a < d; a++)
            {
                row[a] = f[a];
            }

            for (var b = 0; b < d; b++)
            {
                double sum = 0;
                for (var a = 0; a < d; a++)
                {
                    sum += row[a] * rotation[(a * d) + b];
                }

                f[b] = (float)sum;
            }
        }
    }

    public ReadOnlySpan<float> User(int user) => UserFactors.AsSpan(CheckIndex(user, UserCount, nameof(user)) * Dimension, Dimension);

    public ReadOnlySpan<float> Item(int item) => ItemFactors.AsSpan(CheckIndex(item, ItemCount, nameof(item)) * Dimension, Dimension);

    public float Score(int user, int item) => VectorKernels.Dot(User(user), Item(item));

    /// <summary>
    /// The k best items for <paramref name="user"/> by x_u . y_i, skipping the items of the user's row in
    /// <paramref name="seen"/> (user-major; pass null to keep everything). Brute force over all items.
    /// </summary>
    public ScoredItem[] Recommend(int user, int k, CsrMatrix? seen)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        var x = User(user);
        var excluded = seen is not null && user < seen.RowCount ? seen.RowColumns(user) : [];
        var top = new TopK(Math.Min(k, ItemCount));
        var next = 0;
        for (var i = 0; i < ItemCount; i++)
        {
            // Rows of `seen` are sorted: walk them alongside instead of searching.
            if (next < excluded.Length && excluded[next] == i)
            {
                next++;
                continue;
            }

            top.Add(i, VectorKernels.Dot(x, ItemFactors.AsSpan(i * Dimension, Dimension)));
        }

        return Drain(top);
    }

    /// <summary>The k items most similar to <paramref name="item"/> by cosine of item factors (the item itself excluded).</summary>
    public ScoredItem[] SimilarItems(int item, int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        var y = Item(item);
        var norms = ItemNorms();
        var top = new TopK(Math.Min(k, Math.Max(0, ItemCount - 1)));
        var selfNorm = norms[item];
        for (var j = 0; j < ItemCount; j++)
        {
            if (j == item)
            {
                continue;
            }

            var denominator = selfNorm * norms[j];
            var cosine = denominator > 0 ? VectorKernels.Dot(y, ItemFactors.AsSpan(j * Dimension, Dimension)) / denominator : 0f;
            top.Add(j, cosine);
        }

        return Drain(top);
    }

    private float[]? _itemNorms;

    private float[] ItemNorms()
    {
        if (_itemNorms is { } cached)
        {
            return cached;
        }

        var norms = new float[ItemCount];
        for (var j = 0; j < ItemCount; j++)
        {
            var v = ItemFactors.AsSpan(j * Dimension, Dimension);
            norms[j] = MathF.Sqrt(VectorKernels.Dot(v, v));
        }

        _itemNorms = norms;
        return norms;
    }

    private static ScoredItem[] Drain(TopK top)
    {
        var ids = new int[top.Count];
        var scores = new float[top.Count];
        top.Drain(ids, scores);
        var result = new ScoredItem[ids.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            result[i] = new ScoredItem(ids[i], scores[i]);
        }

        return result;
    }

    private static int CheckIndex(int index, int count, string name) =>
        (uint)index < (uint)count ? index : throw new ArgumentOutOfRangeException(name, index, $"Must be in [0, {count}).");
}
