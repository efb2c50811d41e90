using RecSys.Retrieval.VectorIndex;
using RecSys.VectorSearch;
using static RecSys.Retrieval.Tests.VectorIndex.VectorIndexTestSupport;

namespace RecSys.Retrieval.Tests.VectorIndex;

public sealed class IndexedItemsTests
{
    [Fact]
    public void A_hits_label_is_filled_from_the_map_then_used_until_an_entry_leaves_the_map()
    {
        var items = new IndexedItems();
        var key = IndexedItems.KeyOf("item-a");
        Assert.True(items.TryRegister("item-a", key, out _));
        var label = new HitLabel(new NodeLabels(), 7);

        Assert.True(items.TryGetItemId(key, label, out var first));
        Assert.Equal("item-a", first);
        Assert.Equal("item-a", label.Get(out var stamp));
        Assert.Equal(items.Removals, stamp);

        // A label alone answers while nothing has left the map (the map is not asked: a wrong key shows it).
        Assert.True(items.TryGetItemId(key + 1, label, out var fromLabel));
        Assert.Equal("item-a", fromLabel);

        // Replaced (as an activation does): the count moves, the map is asked again and the label restamped.
        items.Set(key, new IndexedItem("item-a", null));
        Assert.Equal(1, items.Removals);
        Assert.False(items.TryGetItemId(key + 1, label, out _));
        Assert.True(items.TryGetItemId(key, label, out var second));
        Assert.Equal("item-a", second);
        Assert.Equal(1, label.Get(out var restamped) is not null ? restamped : -1);

        // Removed (a delete): the stale label no longer answers.
        Assert.True(items.Remove(key, "item-a"));
        Assert.Equal(2, items.Removals);
        Assert.False(items.TryGetItemId(key, label, out _));
        Assert.False(items.TryGetItemId(key, default, out _));
    }

    [Fact]
    public void Setting_the_same_entry_again_or_a_new_key_removes_nothing()
    {
        var items = new IndexedItems();
        var entry = new IndexedItem("item-b", null);
        items.Set(5, entry);
        items.Set(5, entry);
        items.Set(6, new IndexedItem("item-c", null));
        Assert.Equal(0, items.Removals);
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
