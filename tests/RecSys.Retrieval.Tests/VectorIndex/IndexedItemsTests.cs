using RecSys.Retrieval.VectorIndex;
using RecSys.VectorSearch;
using static RecSys.Retrieval.Tests.VectorIndex.VectorIndexTestSupport;

namespace RecSys.Retrieval.Tests.VectorIndex;

public sealed class IndexedItemsTests
{
    [Fact]
    public void A_hits_label_is_filled_from_the_map_then_used_until_its_entry_leaves_the_map()
    {
        var items = new IndexedItems();
        var key = IndexedItems.KeyOf("item-a");
        Assert.True(items.TryRegister("item-a", key, out var registered));
        var label = new HitLabel(new NodeLabels(), 7);

        Assert.True(items.TryGet(key, label, out var first));
        Assert.Same(registered, first);
        Assert.Same(registered, label.Get());

        // Replaced (as an activation does): the label's entry is marked removed, and the map's new entry is taken and kept.
        var replacement = new IndexedItem("item-a", null);
        items.Set(key, replacement);
        Assert.True(registered.Removed);
        Assert.False(replacement.Removed);
        Assert.True(items.TryGet(key, label, out var second));
        Assert.Same(replacement, second);
        Assert.Same(replacement, label.Get());

        // Removed (a delete): the stale label no longer answers.
        Assert.True(items.Remove(key, "item-a"));
        Assert.True(replacement.Removed);
        Assert.False(items.TryGet(key, label, out _));
        Assert.False(items.TryGet(key, default, out _));
    }

    [Fact]
    public void Setting_the_same_entry_again_keeps_it_live()
    {
        var items = new IndexedItems();
        var entry = new IndexedItem("item-b", null);
        items.Set(5, entry);
        items.Set(5, entry);
        Assert.False(entry.Removed);
        Assert.True(items.TryGet(5, out var found));
        Assert.Same(entry, found);
    }

    [Fact]
    public async Task A_deleted_item_leaves_searches_that_had_labelled_it_and_comes_back_when_added_again()
    {
        using var manager = Manager(Options());
        var items = RandomItems(300, 8);
        await manager.AddAsync(items);
        for (var round = 0; round < 2; round++)
        {
            // The first search labels the hits' nodes, the second reads the labels: both find the item.
            Assert.Equal("item00042", (await manager.SearchAsync(items[42].Vector, 5)).Hits[0].ItemId);
        }

        manager.EnqueueDeletes(["item00042"]);
        await manager.ApplyPendingAsync();
        var afterDelete = await manager.SearchAsync(items[42].Vector, 50);
        Assert.DoesNotContain(afterDelete.Hits, h => h.ItemId == "item00042");

        await manager.AddAsync(items[42]);
        Assert.Equal("item00042", (await manager.SearchAsync(items[42].Vector, 5)).Hits[0].ItemId);
    }
}
