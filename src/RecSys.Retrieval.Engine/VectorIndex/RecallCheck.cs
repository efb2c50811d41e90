using RecSys.VectorSearch;

namespace RecSys.Retrieval.VectorIndex;

/// <summary>Recall@k of a built index and how many queries measured it (0: too few items to measure; recall is then 1).</summary>
public readonly record struct RecallResult(double Recall, int Queries);

/// <summary>
/// The quality gate of a rebuilt index: a sample of its own vectors are the queries; each one's k nearest others by brute
/// force (exact inner product over every stored vector, normalized under cosine as stored) are compared with what the
/// sharded HNSW search returns at the serving ef (each shard asked for k + 1, merged by score, the query itself left out).
/// </summary>
internal static class RecallCheck
{
    public static RecallResult Measure(IReadOnlyList<HnswIndex> shards, int sampleSize, int k, int efSearch, int maxDegreeOfParallelism, int seed = 17)
    {
        var dim = shards[0].Dimension;
        var ids = new List<long>();
        var owners = new List<int>();
        for (var s = 0; s < shards.Count; s++)
        {
            foreach (var id in shards[s].GetIds())
            {
                ids.Add(id);
                owners.Add(s);
            }
        }

        var n = ids.Count;
        if (n < 2)
        {
            return new RecallResult(1, 0);
        }

        // Every vector once, row-major, so that the brute force scans one array.
        var all = new float[(long)n * dim];
        for (var i = 0; i < n; i++)
        {
            shards[owners[i]].TryGetVector(ids[i], all.AsSpan(i * dim, dim));
        }

        var random = new Random(seed);
        var order = Enumerable.Range(0, n).ToArray();
        var queries = Math.Min(sampleSize, n);
        for (var i = 0; i < queries; i++)
        {
            var j = random.Next(i, n);
            (order[i], order[j]) = (order[j], order[i]);
        }

        var wanted = Math.Min(k, n - 1);
        var found = new int[queries];
        Parallel.For(0, queries, new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism }, q =>
        {
            var self = order[q];
            var query = all.AsSpan(self * dim, dim).ToArray();
            var (top, kth) = ExactTop(all, dim, n, query, self, wanted);
            var exact = top.Select(i => ids[i]).ToHashSet();
            var approximate = shards
                .SelectMany(shard => shard.Search(query, wanted + 1, Math.Max(efSearch, wanted + 1)))
                .Where(hit => hit.Id != ids[self])
                .OrderByDescending(hit => hit.Score)
                .Take(wanted);
            // A hit as similar as the k-th exact answer counts (ties): items with one interaction from the same user have
            // equal directions, and which of them the brute force keeps is arbitrary.
            found[q] = approximate.Count(hit => exact.Contains(hit.Id) || hit.Score >= kth - TieTolerance);
        });

        return new RecallResult(found.Sum() / (double)(queries * wanted), queries);
    }

    /// <summary>Similarity within which an approximate answer ties with the k-th exact one (float rounding of one dot product).</summary>
    private const float TieTolerance = 1e-5f;

    /// <summary>
    /// Row indices of the <paramref name="k"/> rows most similar to <paramref name="query"/>, <paramref name="self"/> excluded,
    /// and the k-th best similarity.
    /// </summary>
    private static (int[] Top, float Kth) ExactTop(float[] all, int dim, int n, float[] query, int self, int k)
    {
        // A small min-heap of the best k so far.
        var heap = new PriorityQueue<int, float>(k + 1);
        for (var i = 0; i < n; i++)
        {
            if (i == self)
            {
                continue;
            }

            var score = VectorKernels.Dot(query, all.AsSpan(i * dim, dim));
            if (heap.Count < k)
            {
                heap.Enqueue(i, score);
            }
            else if (heap.TryPeek(out _, out var worst) && score > worst)
            {
                heap.DequeueEnqueue(i, score);
            }
        }

        heap.TryPeek(out _, out var kth);
        return ([.. heap.UnorderedItems.Select(e => e.Element)], kth);
    }
}
