namespace RecSys.Learning.Interactions;

/// <summary>
/// User-item interaction strengths held twice: user-major (<see cref="UserItems"/>) for the user half of ALS and for
/// excluding seen items, item-major (<see cref="ItemUsers"/>) for the item half and item-item similarity.
/// Values are summed event strengths (see <see cref="ConfidenceFunction"/>); ALS turns them into confidences.
/// </summary>
public sealed class InteractionMatrix
{
    private InteractionMatrix(CsrMatrix userItems, CsrMatrix itemUsers)
    {
        UserItems = userItems;
        ItemUsers = itemUsers;
    }

    public CsrMatrix UserItems { get; }

    public CsrMatrix ItemUsers { get; }

    public int UserCount => UserItems.RowCount;

    public int ItemCount => UserItems.ColumnCount;

    public int InteractionCount => UserItems.NonZeroCount;

    /// <summary>
    /// Builds both orientations from (user, item, strength) triples; duplicate pairs are summed.
    /// The input arrays are read, not modified.
    /// </summary>
    public static InteractionMatrix Build(int userCount, int itemCount, int[] users, int[] items, float[] strengths)
    {
        var userItems = CsrBuilder.Build(userCount, itemCount, users, items, strengths);
        return new InteractionMatrix(userItems, userItems.Transpose());
    }

    /// <summary>Number of users who interacted with each item.</summary>
    public int[] ItemPopularity()
    {
        var popularity = new int[ItemCount];
        for (var i = 0; i < ItemCount; i++)
        {
            popularity[i] = ItemUsers.RowLength(i);
        }

        return popularity;
    }
}

/// <summary>An interaction matrix with the external ids of its rows and columns.</summary>
public sealed record LabeledInteractionMatrix<TUser, TItem>(InteractionMatrix Matrix, IdIndexMap<TUser> Users, IdIndexMap<TItem> Items)
    where TUser : notnull
    where TItem : notnull;
