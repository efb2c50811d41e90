using RecSys.Learning.Als;
using RecSys.Learning.Interactions;
using RecSys.Learning.Kernels;

namespace RecSys.Learning.Evaluation;

/// <summary>
/// Anything the evaluator can score: the best items for a user, excluding the user's training items.
/// Implementations are fitted on a training matrix at construction and must be safe to call from several threads.
/// </summary>
public interface IRecommender
{
    string Name { get; }

    /// <summary>Writes up to <c>items.Length</c> item indices, best first; returns how many were written.</summary>
    int Recommend(int user, Span<int> items);
}

/// <summary>Items by number of training users, most first (ties by index); the user's own items skipped.</summary>
public sealed class MostPopularRecommender : IRecommender
{
    private readonly CsrMatrix _seen;
    private readonly int[] _order;

    public MostPopularRecommender(InteractionMatrix train)
    {
        ArgumentNullException.ThrowIfNull(train);
        _seen = train.UserItems;
        var popularity = train.ItemPopularity();
        _order = Enumerable.Range(0, train.ItemCount)
            .Where(i => popularity[i] > 0)
            .OrderByDescending(i => popularity[i])
            .ThenBy(i => i)
            .ToArray();
    }

    public string Name => "most-popular";

    public int Recommend(int user, Span<int> items)
    {
        var seen = user < _seen.RowCount ? _seen.RowColumns(user) : [];
        var n = 0;
        foreach (var item in _order)
        {
            if (n == items.Length)
            {
                break;
            }

            if (seen.BinarySearch(item) < 0)
            {
                items[n++] = item;
            }
        }

        return n;
    }
}

/// <summary>Scores every item by the learned factors (x_u . y_i), the user's training items excluded.</summary>
public sealed class FactorRecommender(FactorModel model, InteractionMatrix train, string name = "als") : IRecommender
{
    public string Name => name;

    public int Recommend(int user, Span<int> items)
    {
        var best = model.Recommend(user, items.Length, train.UserItems);
        for (var i = 0; i < best.Length; i++)
        {
            items[i] = best[i].Item;
        }

        return best.Length;
    }
}

/// <summary>
/// Item-based kNN: cosine similarity on the binarized item-user matrix, |U_i n U_j| / sqrt(|U_i| |U_j|), keeping the
/// <c>neighbours</c> most similar items of each item; a user's score for j is the sum of similarities of j to the
/// user's training items.
/// </summary>
public sealed class ItemKnnRecommender : IRecommender
{
    private readonly CsrMatrix _seen;
    private readonly int _itemCount;
    private readonly int _neighbours;
    private readonly int[] _neighbourIds;
    private readonly float[] _neighbourSimilarity;

    public ItemKnnRecommender(InteractionMatrix train, int neighbours = 100)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentOutOfRangeException.ThrowIfLessThan(neighbours, 1);
        _seen = train.UserItems;
        _itemCount = train.ItemCount;
        _neighbours = neighbours;
        _neighbourIds = new int[train.ItemCount * neighbours];
        _neighbourSimilarity = new float[train.ItemCount * neighbours];
        _neighbourIds.AsSpan().Fill(-1);
        var popularity = train.ItemPopularity();
        var itemUsers = train.ItemUsers;
        var userItems = train.UserItems;
        Parallel.For(0, train.ItemCount, () => (Counts: new int[train.ItemCount], Touched: new List<int>(), Top: new TopK(neighbours)), (i, _, local) =>
        {
            foreach (var u in itemUsers.RowColumns(i))
            {
                foreach (var j in userItems.RowColumns(u))
                {
                    if (local.Counts[j]++ == 0)
                    {
                        local.Touched.Add(j);
                    }
                }
            }

            local.Top.Reset();
            foreach (var j in local.Touched)
            {
                if (j != i)
                {
                    local.Top.Add(j, (float)(local.Counts[j] / Math.Sqrt((double)popularity[i] * popularity[j])));
                }

                local.Counts[j] = 0;
            }

            local.Touched.Clear();
            local.Top.Drain(_neighbourIds.AsSpan(i * neighbours, neighbours), _neighbourSimilarity.AsSpan(i * neighbours, neighbours));
            return local;
        }, _ => { });
    }

    public string Name => $"item-knn(k={_neighbours})";

    public int Recommend(int user, Span<int> items)
    {
        var scores = new float[_itemCount];
        var seen = user < _seen.RowCount ? _seen.RowColumns(user) : [];
        foreach (var i in seen)
        {
            for (var n = i * _neighbours; n < (i + 1) * _neighbours && _neighbourIds[n] >= 0; n++)
            {
                scores[_neighbourIds[n]] += _neighbourSimilarity[n];
            }
        }

        var top = new TopK(items.Length);
        for (var j = 0; j < _itemCount; j++)
        {
            if (scores[j] > 0 && seen.BinarySearch(j) < 0)
            {
                top.Add(j, scores[j]);
            }
        }

        return top.Drain(items, []);
    }
}
