using System.Diagnostics.CodeAnalysis;
using System.IO.Hashing;
using System.Text;

namespace RecSys.Ranking.Features;

/// <summary>
/// A snapshot's item ids found by their UTF-8 bytes, as they arrive on the wire: open addressing over one array of
/// (64-bit hash, number) slots, so a lookup hashes the bytes, reads a slot or two and compares the bytes with the one id
/// string it points to. No string is made for a known id.
/// </summary>
internal sealed class Utf8ItemIndex
{
    private readonly Slot[] _slots;
    private readonly string[] _ids;
    private readonly int _mask;

    private struct Slot
    {
        public ulong Hash;

        // Item number + 1; 0 marks an empty slot.
        public int NumberPlusOne;
    }

    /// <param name="ids">Item ids by number (distinct).</param>
    public Utf8ItemIndex(string[] ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        _ids = ids;
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
            while (_slots[at].NumberPlusOne != 0)
            {
                at = (at + 1) & _mask;
            }

            _slots[at] = new Slot { Hash = hash, NumberPlusOne = number + 1 };
        }
    }

    public bool TryFind(ReadOnlySpan<byte> utf8Id, [NotNullWhen(true)] out string? id, out int number)
    {
        var hash = XxHash3.HashToUInt64(utf8Id);
        var at = (int)hash & _mask;
        while (true)
        {
            var slot = _slots[at];
            if (slot.NumberPlusOne == 0)
            {
                id = null;
                number = -1;
                return false;
            }

            if (slot.Hash == hash && SameId(utf8Id, _ids[slot.NumberPlusOne - 1]))
            {
                number = slot.NumberPlusOne - 1;
                id = _ids[number];
                return true;
            }

            at = (at + 1) & _mask;
        }
    }

    /// <summary>Whether <paramref name="utf8"/> encodes <paramref name="id"/> (ASCII ids compared in place, others decoded).</summary>
    private static bool SameId(ReadOnlySpan<byte> utf8, string id) =>
        System.Text.Ascii.Equals(utf8, id) || (!System.Text.Ascii.IsValid(utf8) && string.Equals(Encoding.UTF8.GetString(utf8), id, StringComparison.Ordinal));
}
