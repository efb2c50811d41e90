using System.Text;
using RecSys.Ranking.Features;

namespace RecSys.Ranking.Tests.Features;

public sealed class Utf8ItemIndexTests
{
    [Fact]
    public void Every_id_is_found_by_its_utf8_bytes_with_its_number_and_others_are_not()
    {
        var ids = Enumerable.Range(0, 20_000).Select(i => i % 5 == 0 ? $"ü{i}" : $"item-{i}")
            .Concat(["", new string('x', 300), "日本語", "a\u0000b"]).ToArray();
        var index = new Utf8ItemIndex(ids);
        for (var number = 0; number < ids.Length; number++)
        {
            Assert.True(index.TryFind(Encoding.UTF8.GetBytes(ids[number]), out var id, out var found));
            Assert.Same(ids[number], id);
            Assert.Equal(number, found);
        }

        foreach (var other in new[] { "item-20000", "item-", "ü", new string('x', 299), "日本", "A\u0000b" })
        {
            Assert.False(index.TryFind(Encoding.UTF8.GetBytes(other), out var id, out var number));
            Assert.Null(id);
            Assert.Equal(-1, number);
        }

        // Many at once: the same answers, from one buffer, known and unknown ids mixed.
        string[] asked = [.. ids.Where((_, i) => i % 3 == 0), "item-20000", "", "nope", .. ids.Where((_, i) => i % 3 == 1)];
        var data = new List<byte>();
        var starts = new int[asked.Length];
        var lengths = new int[asked.Length];
        for (var k = 0; k < asked.Length; k++)
        {
            data.AddRange("#"u8.ToArray());
            starts[k] = data.Count;
            var bytes = Encoding.UTF8.GetBytes(asked[k]);
            lengths[k] = bytes.Length;
            data.AddRange(bytes);
        }

        var resolved = new string?[asked.Length];
        var numbers = new int[asked.Length];
        index.FindMany([.. data], starts, lengths, resolved, numbers);
        for (var k = 0; k < asked.Length; k++)
        {
            Assert.Equal(index.TryFind(Encoding.UTF8.GetBytes(asked[k]), out var one, out var number), resolved[k] is not null);
            Assert.Same(one, resolved[k]);
            Assert.Equal(number, numbers[k]);
        }

        Assert.Equal(asked.Length - 2, resolved.Count(f => f is not null));

        // Bytes that are not UTF-8 name no id (decoded they would be U+FFFD, which no id here holds).
        Assert.False(index.TryFind([0xC3, 0x28], out _, out _));
    }

    [Fact]
    public void An_empty_catalog_finds_nothing()
    {
        var index = new Utf8ItemIndex([]);
        Assert.False(index.TryFind("a"u8, out _, out _));
        Assert.False(index.TryFind([], out _, out _));
    }
}
