using RecSys.Learning.Interactions;

namespace RecSys.Learning.Tests;

/// <summary>
/// A tiny world with planted tastes: items belong to clusters (item i to cluster i % Clusters), each user loves one
/// cluster and draws most interactions from it (popular items of the cluster more often), the rest at random.
/// </summary>
public sealed class PlantedWorld
{
    public PlantedWorld(int users, int items, int clusters, int interactionsPerUser, double inClusterShare, ulong seed)
    {
        Users = users;
        Items = items;
        Clusters = clusters;
        var rng = new Random((int)seed);
        var userList = new List<int>();
        var itemList = new List<int>();
        var timeList = new List<long>();
        var perCluster = items / clusters;
        for (var u = 0; u < users; u++)
        {
            var cluster = UserCluster(u);
            for (var n = 0; n < interactionsPerUser; n++)
            {
                int item;
                if (rng.NextDouble() < inClusterShare)
                {
                    // Skewed rank within the cluster: low ranks (popular) come up more often.
                    var rank = (int)(perCluster * Math.Pow(rng.NextDouble(), 2));
                    item = cluster + (Math.Min(rank, perCluster - 1) * clusters);
                }
                else
                {
                    item = rng.Next(items);
                }

                userList.Add(u);
                itemList.Add(item);
                timeList.Add((u * 1000L) + n);
            }
        }

        UserIndices = [.. userList];
        ItemIndices = [.. itemList];
        Timestamps = [.. timeList];
        Strengths = Enumerable.Repeat(1f, UserIndices.Length).ToArray();
    }

    public int Users { get; }

    public int Items { get; }

    public int Clusters { get; }

    public int[] UserIndices { get; }

    public int[] ItemIndices { get; }

    public long[] Timestamps { get; }

    public float[] Strengths { get; }

    public int UserCluster(int user) => user % Clusters;

    public int ItemCluster(int item) => item % Clusters;

    public InteractionMatrix Matrix() => InteractionMatrix.Build(Users, Items, UserIndices, ItemIndices, Strengths);
}
