using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.IO.Hashing;
using System.Text;

namespace RecSys.Ranking.Features;

/// <summary>
/// A snapshot's item ids found by their UTF-8 bytes, as they arrive on the wire: open addressing over one array of
/// (64-bit hash, id, number) slots, so a lookup hashes the bytes, reads a slot or two and compares the bytes with the one id
/// string the matching slot holds. No string is made for a known id.
/// </summary>
internal sealed class Utf8ItemIndex
{
    private readonly Slot[] _slots;
    private readonly int _mask;

    // Where the warming reads of FindMany go, so that they are not optimized away.
    private ulong _touched;

    private struct Slot
    {
        public ulong Hash;

        // Null marks an empty slot.
        public string? Id;
        public int Number;
    }

    /// <param name="ids">Item ids by number (distinct).</param>
    public Utf8ItemIndex(string[] ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        // At most half full: probes stay short.
        var capacity = (int)Math.Min(1 << 30, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, ids.Length * 2)));
        _slots = new Slot[capacity];
        _mask = capacity - 1;
        Span<byte> buffer = stackalloc byte[256];
        for (var number = 0; number < ids.Length; number++)
        {
            var id = ids[number];
            var bytes = Encoding.UTF8.GetMaxByteCount(id.Length) <= buffer.Length ? buffer : new byte[Encoding.UTF8.GetByteCount(id)];
            var hash = XxHash3.HashToUInt64(bytes[..Encoding.UTF8.GetBytes(id, bytes)]);
            var at = (int)hash & _mask;
            while (_slots[at].Id is not null)
            {
                at = (at + 1) & _mask;
            }

            _slots[at] = new Slot { Hash = hash, Id = id, Number = number };
        }
    }

    public bool TryFind(ReadOnlySpan<byte> utf8Id, [NotNullWhen(true)] out string? id, out int number) =>
        TryFindFrom(utf8Id, XxHash3.HashToUInt64(utf8Id), out id, out number);

    /// <summary>
    /// <see cref="TryFind"/> for many ids of one buffer (id k is <c>data[starts[k]..(starts[k] + lengths[k])]</c>; unknown ones
    /// get a null id and number -1), in passes that each read one kind of memory for every id (the slots, then the id strings),
    /// so that the cache misses of many ids overlap instead of following one another.
    /// </summary>
    public void FindMany(ReadOnlySpan<byte> data, ReadOnlySpan<int> starts, ReadOnlySpan<int> lengths, Span<string?> ids, Span<int> numbers)
    {
        var n = starts.Length;
        if (lengths.Length != n || ids.Length != n || numbers.Length != n)
        {
            throw new ArgumentException("One start, length, id and number per id.");
        }

        var hashes = ArrayPool<ulong>.Shared.Rent(n);
        var at = ArrayPool<int>.Shared.Rent(n);
        var slots = _slots;
        ulong touched = 0;
        try
        {
            for (var k = 0; k < n; k++)
            {
                var hash = XxHash3.HashToUInt64(data.Slice(starts[k], lengths[k]));
                hashes[k] = hash;
                at[k] = (int)hash & _mask;
                touched += slots[at[k]].Hash;
            }

            // The first slot with the same hash (or -1: an empty slot first, the id is unknown); its string is read ahead.
            for (var k = 0; k < n; k++)
            {
                var i = at[k];
                while (slots[i].Id is { } id)
                {
                    if (slots[i].Hash == hashes[k])
                    {
                        touched += (uint)id.Length;
                        break;
                    }

                    i = (i + 1) & _mask;
                }

                at[k] = slots[i].Id is null ? -1 : i;
            }

            for (var k = 0; k < n; k++)
            {
                var utf8 = data.Slice(starts[k], lengths[k]);
                if (at[k] < 0)
                {
                    ids[k] = null;
                    numbers[k] = -1;
                }
                else if (SameId(utf8, slots[at[k]].Id!))
                {
                    ids[k] = slots[at[k]].Id;
                    numbers[k] = slots[at[k]].Number;
                }
                else
                {
                    // Same hash, another id: the rest of the probe, as TryFind does.
                    numbers[k] = TryFindFrom(utf8, hashes[k], out ids[k], out var number) ? number : -1;
                }
            }
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(hashes);
            ArrayPool<int>.Shared.Return(at);
        }

        Volatile.Write(ref _touched, touched);
    }

    private bool TryFindFrom(ReadOnlySpan<byte> utf8Id, ulong hash, [NotNullWhen(true)] out string? id, out int number)
    {
        var at = (int)hash & _mask;
        while (_slots[at].Id is { } candidate)
        {
            if (_slots[at].Hash == hash && SameId(utf8Id, candidate))
            {
                id = candidate;
                number = _slots[at].Number;
                return true;
            }

            at = (at + 1) & _mask;
        }

        id = null;
        number = -1;
        return false;
    }

    /// <summary>Whether <paramref name="utf8"/> encodes <paramref name="id"/> (ASCII ids compared in place, others decoded).</summary>
    private static bool SameId(ReadOnlySpan<byte> utf8, string id) =>
        Ascii.Equals(utf8, id) || (!Ascii.IsValid(utf8) && string.Equals(Encoding.UTF8.GetString(utf8), id, StringComparison.Ordinal));
}
